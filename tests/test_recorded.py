"""Recorded runs: a run folder kept by tools/record_run.py reads back as it was; the package's own ones are whole."""

import json

import pytest
from PIL import Image

from tools.record_run import record_run
from xmllib.course.recorded import FIGURES, recorded_run, recorded_runs


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    metrics = {key: 0.5 + i / 10 for i, key in enumerate(FIGURES)} | {"seconds": 600.0, "pompom": 0.1}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    Image.new("RGBA", (40, 30), (200, 10, 10, 255)).save(folder / "explanations.png")
    return folder


def test_a_recorded_run_reads_back_its_command_machine_minutes_figures_and_figure(run_dir, tmp_path):
    root = tmp_path / "recorded"
    written = record_run(run_dir, "paper_recipe", "python -m xmllib train --preset paper", "a 2-core CPU", root)
    assert recorded_runs(root) == ["paper_recipe"]
    run = recorded_run("paper_recipe", root)
    assert run == written and run.minutes == 10.0
    assert run.figures == {key: round(0.5 + i / 10, 3) for i, key in enumerate(FIGURES)}
    with Image.open(run.figure) as figure:
        assert figure.size == (40, 30) and figure.mode == "P"
        assert figure.convert("RGB").getpixel((5, 5)) == (200, 10, 10)
    assert run.describe() == "Trained with `python -m xmllib train --preset paper` in 10 minutes on a 2-core CPU."


def test_a_folder_without_metrics_or_figure_and_an_unknown_name_are_refused(run_dir, tmp_path):
    (run_dir / "explanations.png").unlink()
    with pytest.raises(ValueError, match=r"lacks \['explanations.png'\]"):
        record_run(run_dir, "x", "command", "machine", tmp_path / "recorded")
    (run_dir / "metrics.json").unlink()
    with pytest.raises(ValueError, match="lacks .*metrics.json: test_accuracy"):
        record_run(run_dir, "x", "command", "machine", tmp_path / "recorded")
    with pytest.raises(ValueError, match=r"no recorded run named 'nope'; there are \[\]"):
        recorded_run("nope", tmp_path / "recorded")


def test_the_package_holds_the_paper_recipe_run_with_its_figure_and_figures():
    assert "paper_recipe" in recorded_runs()
    for name in recorded_runs():
        run = recorded_run(name)
        assert run.figure.read_bytes().startswith(b"\x89PNG") and set(run.figures) == set(FIGURES)
