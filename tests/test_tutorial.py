"""The notebooks' setup: the scale switch, the fixed batch, phases cached or trained, the retrain controls."""

import contextlib
import dataclasses
import io
import shutil

import ipywidgets as widgets
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image as PILImage

from xmllib.assembly import loaders_from_config, model_from_config, objective_from_config
from xmllib.checkpoints import load_model
from xmllib.config import ConfigError, preset
from xmllib.course import live, tutorial
from xmllib.course import widgets as controls_module
from xmllib.course.tutorial import (
    NotebookConfig,
    cached_phase,
    fixed_batch,
    notebook_config,
    notebook_dataset,
    phase_checkpoint,
    phase_start,
    phase_values,
    retrain_phase,
    retrain_problem,
)
from xmllib.course.widgets import aopc_selectors, retrain_controls
from xmllib.data import IndexDataset, PolygonSpec, measured_sample
from xmllib.plots import aopc_selection, shrunk_png
from xmllib.training import measure_split

TINY_SPEC = PolygonSpec(n_train=16, n_val=8, n_test=8, image_size=32, radius=(4.0, 7.0),
                        objects_per_image=(1, 3), line_width=1)


TINY_CONFIG = preset("tutorial").replace(epochs=(1, 1, 1), min_steps=(0, 0, 0), image_size=32, batch_size=8,
                                         explainer_width=2, aug_prob=0.0, device="cpu")


@pytest.fixture
def setup(tmp_path):
    return NotebookConfig(TINY_CONFIG, TINY_SPEC, tmp_path / "tiny")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A cache in which phases 1 and 2 were trained by `cached_phase`, what it said, and its result."""
    setup = NotebookConfig(TINY_CONFIG, TINY_SPEC, tmp_path_factory.mktemp("cache") / "tiny")
    with contextlib.redirect_stdout(io.StringIO()) as said:
        result = cached_phase(2, setup, show=False)
    return setup, said.getvalue(), result


@pytest.fixture
def no_drawing(monkeypatch):
    """Live figures are tested in test_live.py; here they would only cost time."""
    monkeypatch.setattr(live.LiveTraining, "draw", lambda self: None)
    monkeypatch.setattr(tutorial.PhaseResult, "animation", lambda self: "animation")
    monkeypatch.setattr(tutorial, "figure_png", lambda figure: "figure")
    monkeypatch.setattr(tutorial.PhaseResult, "curves", lambda self: "curves")
    monkeypatch.setattr(tutorial.PhaseResult, "heatmaps", lambda self: "heatmaps")


@pytest.fixture
def no_smoke(monkeypatch):
    monkeypatch.delenv(tutorial.SMOKE_VARIABLE, raising=False)


def test_notebook_config_is_the_tutorial_preset_by_default(no_smoke):
    config, spec, folder = notebook_config()
    assert config == preset("tutorial")
    assert spec.image_size == config.image_size
    assert folder == tutorial.CACHE_DIR / "tutorial"


def test_notebook_config_at_paper_scale_is_the_paper_preset_at_224_px(no_smoke, tmp_path):
    config, spec, folder = notebook_config(paper_scale=True, cache_dir=tmp_path)
    assert config == preset("paper") and config.image_size == spec.image_size == 224
    assert folder == tmp_path / "paper"


@pytest.mark.parametrize("paper_scale", [False, True])
def test_the_smoke_variable_shrinks_data_and_epochs_into_a_folder_of_its_own(monkeypatch, paper_scale):
    monkeypatch.setenv(tutorial.SMOKE_VARIABLE, "1")
    config, spec, folder = notebook_config(paper_scale)
    full = preset("paper" if paper_scale else "tutorial")
    assert config == full.replace(epochs=(1, 1, 1), min_steps=(0, 0, 0))
    assert spec.n_images < 100 and spec.image_size == config.image_size
    assert folder.name == ("paper_smoke" if paper_scale else "tutorial_smoke")
    monkeypatch.setenv(tutorial.SMOKE_VARIABLE, "0")
    assert notebook_config(paper_scale).config == full


def test_notebook_dataset_refuses_polygons_of_another_size(setup):
    with pytest.raises(ConfigError, match="64 px"):
        notebook_dataset(setup._replace(spec=dataclasses.replace(TINY_SPEC, image_size=64)))


def test_fixed_batch_takes_the_first_images_of_each_class(tiny_index):
    dataset = IndexDataset(tiny_index, "val", 32)
    batch = fixed_batch(dataset, n=4)
    first = [torch.nonzero(dataset.labels == k).flatten()[:2].tolist() for k in (0, 1)]
    expected = [dataset[i] for i in first[0] + first[1]]
    assert batch["label"].tolist() == [0, 0, 1, 1]
    torch.testing.assert_close(batch["image"], torch.stack([item["image"] for item in expected]))
    torch.testing.assert_close(batch["mask"], torch.stack([item["mask"] for item in expected]))


def test_phase_start_measures_the_train_sample_the_epochs_measure(tiny_index, tiny_config, monkeypatch):
    config = tiny_config.replace(train_stats_images=6)
    loaders = loaders_from_config(tiny_index, config)
    torch.manual_seed(0)
    model = model_from_config(config, 2)
    measured_sizes = []

    def recording(model, loader, *args):
        measured_sizes.append(len(loader.dataset))
        return measure_split(model, loader, *args)

    monkeypatch.setattr(tutorial, "measure_split", recording)
    start = phase_start(model, config, 1, loaders)
    assert measured_sizes == [6, len(loaders["val"].dataset)] and 6 < len(loaders["train"].dataset)
    objective = objective_from_config(config, config.phase(1))
    on_sample = measure_split(model, measured_sample(loaders["train"], 6, config.seed), objective)
    assert {key: start[f"train_{key}"] for key in on_sample} == pytest.approx(on_sample)
    assert start["val_loss"] == pytest.approx(measure_split(model, loaders["val"], objective)["loss"])


def test_phase_values_change_one_phase_only():
    config = preset("tutorial")
    changed = phase_values(config, 2, alpha=0.5, lr_expl=0.02)
    assert changed.alpha == (config.alpha[0], 0.5, config.alpha[2])
    assert changed.lr_expl == (config.lr_expl[0], 0.02, config.lr_expl[2])
    assert changed.lr_clf == config.lr_clf
    with pytest.raises(ConfigError, match="not per-phase"):
        phase_values(config, 1, beta=0.5)
    with pytest.raises(ConfigError, match="alpha must lie in"):
        phase_values(config, 1, alpha=1.5)


def test_retrain_problem_names_a_phase_that_would_train_nothing():
    config = preset("tutorial")
    assert retrain_problem(1, config) is None and retrain_problem(3, config) is None
    assert "alpha" in retrain_problem(1, phase_values(config, 1, alpha=0.0))
    assert "lr_clf" in retrain_problem(1, phase_values(config, 1, lr_clf=0.0))
    assert "lr_expl" in retrain_problem(2, phase_values(config, 2, lr_expl=0.0))
    assert "lr_expl" in retrain_problem(3, phase_values(config, 3, lr_expl=0.0))


def test_cached_phase_trains_what_is_missing_then_loads_it(trained, no_drawing, capsys, monkeypatch):
    setup, said, result = trained
    assert "training phase 1" in said and "training phase 2" in said
    assert phase_checkpoint(setup, 1).is_file() and phase_checkpoint(setup, 2).is_file()
    assert result.history["phase"].tolist() == [1, 2] and result.frames.epochs == [0, 1]
    assert result.checkpoint == phase_checkpoint(setup, 2)
    monkeypatch.setattr(tutorial, "train_phase", lambda *a, **k: pytest.fail("a cached phase must not train"))
    loaded = cached_phase(2, setup)
    assert "loaded" in capsys.readouterr().out
    for key, value in result.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[key], value)
    pd.testing.assert_frame_equal(loaded.history, result.history)
    assert loaded.start == result.start and loaded.frames.epochs == result.frames.epochs
    torch.testing.assert_close(loaded.frames.heatmaps[1], result.frames.heatmaps[1], atol=0.5 / 255 + 1e-6, rtol=0)
    torch.testing.assert_close(loaded.batch["image"], result.batch["image"])


def test_a_phase_checkpoint_is_a_model_checkpoint(trained):
    setup, _, result = trained
    model, config, class_names = load_model(phase_checkpoint(setup, 2), device="cpu")
    assert config == setup.config and class_names == result.class_names
    images = result.batch["image"]
    with torch.no_grad():
        torch.testing.assert_close(model(images)[1], result.model.eval()(images)[1])


def test_cached_phase_trains_again_for_another_configuration(trained, tmp_path, capsys):
    folder = shutil.copytree(trained[0].folder, tmp_path / "tiny")
    other = NotebookConfig(TINY_CONFIG.replace(lr_clf=(0.01, 0.0, 0.001)), TINY_SPEC, folder)
    result = cached_phase(1, other, show=False)
    printed = capsys.readouterr().out
    assert "was written with another configuration (lr_clf: [0.001, 0.0, 0.001], not [0.01, 0.0, 0.001])" in printed
    assert "phase trained again" in printed
    assert result.history["lr_clf"].tolist() == [0.01]
    assert load_model(phase_checkpoint(other, 1), device="cpu")[1] == other.config


def test_retrain_phase_uses_the_new_values_and_leaves_the_cache_alone(trained, no_drawing, capsys):
    setup = trained[0]
    before = phase_checkpoint(setup, 1).read_bytes()
    result = retrain_phase(1, setup, alpha=1.0, lr_clf=0.05, epochs=2)
    assert result.history["lr_clf"].iloc[0] == 0.05 and len(result.history) == 2
    assert phase_checkpoint(setup, 1).read_bytes() == before


@pytest.mark.parametrize("values, message", [({"alpha": 1.5}, "alpha must lie in"),
                                             ({"alpha": 0.0}, "no classification signal"),
                                             ({"lr_clf": 0.0}, "lr_clf must be > 0")])
def test_retrain_phase_with_wrong_values_says_why_and_trains_nothing(setup, capsys, monkeypatch, values, message):
    monkeypatch.setattr(tutorial, "train_phase", lambda *a, **k: pytest.fail("must not train"))
    assert retrain_phase(1, setup, **values) is None
    assert message in capsys.readouterr().out


@pytest.mark.parametrize("phase, rates", [(1, ["lr_clf"]), (2, ["lr_expl"]), (3, ["lr_clf", "lr_expl"])])
def test_retrain_controls_train_only_when_pressed_with_the_slider_values(setup, phase, rates):
    calls = []
    controls = retrain_controls(phase, setup, train=lambda *args, **values: calls.append((args, values)))
    assert isinstance(controls.widget, widgets.interactive) and calls == [] and controls.default is None
    sliders = {child.description: child for child in controls.widget.kwargs_widgets}
    assert sorted(sliders) == sorted(["alpha", "epochs", *rates])
    defaults = setup.config.phase(phase)
    assert sliders["alpha"].value == defaults.alpha and sliders["epochs"].value == defaults.epochs
    sliders["alpha"].value = 0.35
    controls.widget.update()  # what the button does
    (args, values), = calls
    assert args == (phase, setup) and values["alpha"] == 0.35
    assert values[rates[0]] == pytest.approx(getattr(defaults, rates[0]))


def test_retrain_controls_show_the_default_run_below_the_controls(trained, monkeypatch):
    shown = []
    monkeypatch.setattr(controls_module, "display", shown.append)
    result = trained[2]
    controls = retrain_controls(2, trained[0], default=result)
    assert isinstance(controls.default, Figure)
    controls._ipython_display_()
    assert shown[0] is controls.widget and shown[1].data.startswith(b"\x89PNG")


def test_shrunk_png_scales_wide_images_down_only(tmp_path):
    path = tmp_path / "wide.png"
    PILImage.new("RGB", (400, 100), "red").save(path)
    assert PILImage.open(io.BytesIO(shrunk_png(path, 200).data)).size == (200, 50)
    assert PILImage.open(io.BytesIO(shrunk_png(path, 800).data)).size == (400, 100)


def aopc_table() -> pd.DataFrame:
    rows = [(method, perturbation, size, step, value)
            for method, scale in (("in-model", 1.0), ("saliency", 0.5))
            for perturbation in ("black", "blur")
            for size in (2, 4)
            for step, value in enumerate([0.0, 0.1 * scale, 0.2 * scale])]
    return pd.DataFrame(rows, columns=["method", "perturbation", "patch_size", "step", "aopc"])


def curves_of(figure: Figure) -> dict[str, list[float]]:
    (ax,) = [ax for ax in figure.axes if ax.get_lines()]
    return {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}


def test_aopc_selection_draws_the_chosen_curves_only():
    assert curves_of(aopc_selection(aopc_table(), ("saliency",), "blur", 4)) == {"saliency": [0.0, 0.05, 0.1]}
    assert sorted(curves_of(aopc_selection(aopc_table(), ["in-model", "saliency"], "black", 2))) == [
        "in-model", "saliency"]
    with pytest.raises(ValueError, match="choose at least one method"):
        aopc_selection(aopc_table(), (), "blur", 4)


def test_aopc_selectors_redraw_what_is_selected_and_explain_an_empty_selection():
    selectors = aopc_selectors(aopc_table())
    assert curves_of(selectors.default) == {"in-model": [0.0, 0.1, 0.2], "saliency": [0.0, 0.05, 0.1]}
    assert selectors.controls["perturbation"].value == "black" and selectors.controls["patch_size"].value == 4
    selectors.controls["methods"].value = ("saliency",)
    assert curves_of(selectors.figure) == {"saliency": [0.0, 0.05, 0.1]}
    selectors.controls["methods"].value = ()
    assert selectors.figure is None and "choose at least one method" in selectors.message
