"""The evaluation report end to end (CLI arguments to files), localisation bookkeeping, the AOPC figure."""

import contextlib
import io
import math

import pandas as pd
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import imread

from xmllib.assembly import model_from_config
from xmllib.checkpoints import load_model, save_checkpoint
from xmllib.cli import main
from xmllib.config import preset
from xmllib.data import class_names, read_index
from xmllib.evaluation import aopc_summary
from xmllib.evaluation.aopc import AOPC_COLUMNS, aopc, morf_curve
from xmllib.evaluation.localisation import LOCALISATION_METRICS, localisation_values
from xmllib.evaluation.posthoc import method_heatmaps
from xmllib.plots import aopc_grid
from xmllib.report import EvaluationSettings, evaluation_batch, run_evaluation

N_IMAGES = 6
ARGS = ["--n-images", str(N_IMAGES), "--steps", "3", "--patch-sizes", "8", "16", "--perturbations", "black", "blur",
        "--methods", "in-model", "saliency", "lrp", "--batch-size", "4", "--figure-images", "2"]


@pytest.fixture(scope="module")
def checkpoint(tiny_index, tmp_path_factory):
    """A randomly initialised 32 px ResNet-18 joint model saved as a checkpoint."""
    config = preset("tutorial").replace(image_size=32, explainer_width=4, device="cpu")
    names = class_names(read_index(tiny_index))
    torch.manual_seed(0)
    model = model_from_config(config, len(names))
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_checkpoint(path, {"config": config.to_dict(), "class_names": names, "model": model.state_dict()})
    return path


@pytest.fixture(scope="module")
def evaluation(checkpoint, tiny_index, tmp_path_factory):
    """`python -m xmllib evaluate`: its output folder and what it printed."""
    out = tmp_path_factory.mktemp("evaluation")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["evaluate", str(checkpoint), "--dataset", str(tiny_index), "--out", str(out), *ARGS]) == 0
    return out, printed.getvalue()


def test_writes_every_output_file(evaluation):
    out, _ = evaluation
    for name in ("aopc.csv", "localisation.csv", "notes.txt"):
        assert (out / name).stat().st_size > 0
    for name in ("aopc_grid.png", "methods.png"):
        assert imread(out / name).ndim == 3


def test_aopc_csv_has_one_row_per_method_perturbation_patch_size_and_step(evaluation):
    out, printed = evaluation
    table = pd.read_csv(out / "aopc.csv")
    assert list(table.columns) == ["method", "perturbation", "patch_size", "step", "aopc"]
    assert list(dict.fromkeys(table["method"])) == ["in-model", "saliency", "deeplift", "random"]
    assert len(table) == 4 * 2 * 2 * 4  # methods x perturbations x patch sizes x (steps + 1)
    assert (table["aopc"][table["step"] == 0] == 0).all()
    final = aopc_summary(table).loc[(8, "saliency"), "black"]
    assert f"{final:.4f}" in printed


def test_aopc_rows_are_the_curves_of_the_methods_heatmaps(evaluation, checkpoint, tiny_index):
    out, _ = evaluation
    model, config, names = load_model(checkpoint, "cpu")
    images = evaluation_batch(read_index(tiny_index), "test", config.image_size, names, N_IMAGES, 4).batch["image"]
    heatmaps = method_heatmaps(model, images, "saliency")
    expected = aopc(morf_curve(model, images, heatmaps, 8, "blur", 3)).numpy()
    table = pd.read_csv(out / "aopc.csv")
    rows = table[(table["method"] == "saliency") & (table["perturbation"] == "blur") & (table["patch_size"] == 8)]
    assert rows["aopc"].to_numpy() == pytest.approx(expected, abs=1e-6)


def test_localisation_counts_only_images_with_defined_values(evaluation, checkpoint, tiny_index):
    out, _ = evaluation
    table = pd.read_csv(out / "localisation.csv")
    assert list(table.columns) == ["method", "metric", "value", "n", "excluded"]
    assert set(table["metric"]) == set(LOCALISATION_METRICS)
    assert (table["n"] + table["excluded"] == N_IMAGES).all()
    _, config, names = load_model(checkpoint, "cpu")
    batch = evaluation_batch(read_index(tiny_index), "test", config.image_size, names, N_IMAGES, 4).batch
    annotated = int((batch["mask"].sum(dim=(1, 2, 3)) > 0).sum())
    assert 0 < annotated < N_IMAGES  # the tiny test split has images without the target
    pointing = table[table["metric"] == "pointing_game"]
    assert (pointing["n"] == annotated).all()
    assert table["value"][table["n"] > 0].between(0, 1).all()


def test_images_are_a_seeded_sample_stratified_by_label_and_notes_name_their_lines(
        checkpoint, tiny_index, tmp_path, capsys):
    from xmllib.cli import main

    index = pd.read_csv(tiny_index, keep_default_na=False)
    index["image"] = [str(tiny_index.parent / path) for path in index["image"]]
    for column in ("mask", "distractors"):
        index[column] = [str(tiny_index.parent / path) if path else "" for path in index[column]]
    grouped = index.sort_values(["split", "label"], kind="stable")  # class by class, as folder imports write
    grouped.to_csv(tmp_path / "grouped.csv", index=False)
    test_labels = grouped.loc[grouped["split"] == "test", "label"]
    assert test_labels.iloc[:4].nunique() == 1  # the first rows hold one class only
    out = tmp_path / "out"
    assert main(["evaluate", str(checkpoint), "--dataset", str(tmp_path / "grouped.csv"), "--out", str(out),
                 "--n-images", "4", "--steps", "2", "--patch-sizes", "16", "--perturbations", "black",
                 "--methods", "in-model", "--seed", "3"]) == 0
    notes = dict(line.split(": ", 1) for line in (out / "notes.txt").read_text().splitlines())
    lines = [int(number) for number in notes["CSV lines of the images"].split(", ")]
    drawn = pd.read_csv(tmp_path / "grouped.csv", keep_default_na=False).iloc[[line - 2 for line in lines]]
    assert (drawn["split"] == "test").all() and len(set(lines)) == 4
    shares = test_labels.value_counts(normalize=True)
    assert drawn["label"].value_counts().to_dict() == (shares * 4).round().astype(int).to_dict()
    assert notes["images"].startswith(f"4 of {len(test_labels)}, stratified by label, seed 3")


def test_lrp_substitution_is_reported(evaluation):
    out, printed = evaluation
    notes = [line for line in (out / "notes.txt").read_text().splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "DeepLift" in notes[0]
    assert "methods run: ['in-model', 'saliency', 'deeplift', 'random']" in (out / "notes.txt").read_text()
    assert "note: LRP is not available" in printed
    assert "AOPC at the last step" in printed and "Localisation" in printed


def test_localisation_values_by_hand():
    heatmaps = torch.zeros(3, 1, 2, 2)
    heatmaps[:, 0, 0, 0], heatmaps[:, 0, 1, 1] = 0.75, 0.25
    mask = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    distractors = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    annotations = {
        "mask": torch.stack([mask, mask, torch.zeros(2, 2)])[:, None],
        "has_mask": torch.tensor([True, True, False]),
        "distractors": torch.stack([distractors, torch.zeros(2, 2), torch.zeros(2, 2)])[:, None],
        "has_distractors": torch.tensor([True, False, False]),
    }
    values = localisation_values(heatmaps, annotations)
    expected = {
        "pompom": [1 / 3, 1 / 3],  # one of the 3 pixels outside the mask is relevant
        "mass_inside_mask": [0.75, 0.75],
        "target_selectivity": [0.75 / (0.75 + 0.25), math.nan],  # needs distractor boxes
        "pointing_game": [1.0, 1.0],
        "relevance_rank_accuracy": [1.0, 1.0],  # the top pixel is the mask's only pixel
    }
    for name, first_two in expected.items():
        torch.testing.assert_close(values[name], torch.tensor([*first_two, math.nan]), equal_nan=True,
                                   atol=1e-5, rtol=0)


def test_aopc_grid_has_a_panel_per_patch_size_and_perturbation_and_a_dashed_random_curve():
    rows = [(method, perturbation, size, step, 0.1 * step)
            for method in ("in-model", "random") for perturbation in ("white", "black", "blur")
            for size in (4, 8) for step in range(3)]
    fig = aopc_grid(pd.DataFrame(rows, columns=AOPC_COLUMNS))
    axes = fig.axes
    assert len(axes) == 6
    assert axes[0].get_title() == "black, 4x4 px" and axes[2].get_title() == "white, 4x4 px"
    assert axes[3].get_title() == "black, 8x8 px"
    styles = {line.get_label(): line.get_linestyle() for line in axes[0].get_lines()}
    assert styles == {"in-model": "-", "random": "--"}
    with pytest.raises(ValueError, match="columns"):
        aopc_grid(pd.DataFrame({"method": ["a"]}))


EIGHT_METHODS = ["in-model", "saliency", "input_x_gradient", "guided_backprop", "gradcam", "integrated_gradients",
                 "deeplift", "random"]


@pytest.mark.parametrize("perturbations", [["black"], ["black", "gray"], ["black", "blur", "gray", "uniform", "white"]])
def test_every_method_of_the_aopc_legend_lies_inside_the_figure(perturbations):
    rows = [(method, perturbation, size, step, 0.01 * step * k) for k, method in enumerate(EIGHT_METHODS)
            for perturbation in perturbations for size in (2, 8) for step in range(3)]
    fig = aopc_grid(pd.DataFrame(rows, columns=AOPC_COLUMNS))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    [legend] = fig.legends
    texts = legend.get_texts()
    assert [text.get_text() for text in texts] == EIGHT_METHODS
    frame = fig.bbox
    for text in texts:
        box = text.get_window_extent(renderer)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, text


@pytest.mark.parametrize("bad, message", [
    ({"methods": ["in-model", "shap"]}, r"unknown method\(s\) \['shap'\]"),
    ({"perturbations": ["pink"]}, "unknown perturbation 'pink'"),
    ({"patch_sizes": [5]}, "patch size 5 does not tile 32 x 32"),
    ({"n_images": 0}, "n_images must be a positive integer"),
    ({"steps": 0}, "steps must be a positive integer"),
    ({"figure_images": 0}, "figure_images must be a positive integer"),
])
def test_bad_arguments_are_refused_before_anything_is_written(checkpoint, tiny_index, tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        run_evaluation(checkpoint, tiny_index, tmp_path / "out", EvaluationSettings(**bad))
    assert not (tmp_path / "out").exists()


def test_summary_table_keeps_counts_as_whole_numbers():
    from xmllib.evaluation.predictions import summary_table

    table = summary_table({"test_accuracy": 0.98765, "pompom": 0.5, "pompom_n": 500, "pompom_excluded": 0})
    assert table.loc["test_accuracy", "value"] == 0.988 and table.loc["pompom", "images"] == 500
    assert pd.isna(table.loc["test_accuracy", "images"])
    assert "500.0" not in table.to_string() and "500" in table.to_string()
