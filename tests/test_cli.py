"""The command line: a tiny three-phase run writes every file of the run folder; bad input fails cleanly."""

import json

import pandas as pd
import pytest

from xmllib.cli import main
from xmllib.runs import EpochPrinter

RUN_FILES = {"config.yaml", "checkpoint.pt", "model.pt", "metrics.json", "explanations.png", "curves.png",
             "roc_pr.png", "history_phase1.csv", "history_phase2.csv", "history_phase3.csv"}
TINY = ["--preset", "tutorial", "--epochs", "1,1,1", "--min-steps", "0,0,0", "--image-size", "32",
        "--batch-size", "8", "--explainer-width", "4", "--device", "cpu"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_index):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--dataset", str(tiny_index), "--out", str(out), *TINY]) == 0
    return out


def test_train_writes_the_run_folder(tiny_run, capsys):
    assert RUN_FILES <= {p.name for p in tiny_run.iterdir()}
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for key in ("test_accuracy", "test_balanced_accuracy", "test_auc", "pompom", "mass_inside_mask",
                "target_selectivity", "every_object_selectivity", "seconds"):
        assert key in metrics
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["seconds"] > 0
    assert metrics["target_selectivity_n"] + metrics["target_selectivity_excluded"] == 8
    for phase in (1, 2, 3):
        history = pd.read_csv(tiny_run / f"history_phase{phase}.csv")
        assert list(history["phase"]) == [phase]


def test_epoch_printer_shows_the_last_epoch(tiny_run, capsys):
    history = pd.concat([pd.read_csv(tiny_run / f"history_phase{phase}.csv") for phase in (1, 2, 3)])
    EpochPrinter().on_epoch_end(history, model=None)
    line = capsys.readouterr().out
    last = history.iloc[-1]
    assert line.startswith("phase 3 epoch 1: train loss ")
    assert f"val loss {last['val_loss']:.4f} acc {last['val_accuracy']:.3f}" in line and line.count("\n") == 1


def test_test_and_explain_commands(tiny_run, tiny_index, tmp_path, capsys):
    assert main(["test", str(tiny_run / "model.pt"), "--dataset", str(tiny_index), "--out", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "metrics.json").read_text())
    assert printed["test_accuracy"] == json.loads((tiny_run / "metrics.json").read_text())["test_accuracy"]
    image = tiny_index.parent / "images" / "00000.png"
    assert main(["explain", str(tiny_run / "model.pt"), str(image), "--out", str(tmp_path / "ex")]) == 0
    assert (tmp_path / "ex" / "00000_explained.png").stat().st_size > 0


def test_flags_override_config_file_over_preset(tmp_path):
    from xmllib.cli import build_parser
    from xmllib.config import config_from_args

    (tmp_path / "c.yaml").write_text("gamma: 3.0\nbeta: 0.5\n")
    args = build_parser().parse_args(["train", "--dataset", "x.csv", "--out", "o", "--preset", "tutorial",
                                      "--config", str(tmp_path / "c.yaml"), "--beta", "0.7",
                                      "--alpha", "1,0.5,0.8"])
    config = config_from_args(args)
    assert (config.gamma, config.beta, config.alpha) == (3.0, 0.7, (1.0, 0.5, 0.8))
    assert config.image_size == 64  # from the tutorial preset


def test_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--epochs", "--alpha", "--lr-clf", "--lr-expl", "--patience", "--beta", "--gamma",
                 "--init-bias", "--loss", "--classifier", "--gates", "--optimizer", "--image-size"):
        assert flag in text
    assert "paper: 10,10,100" in text


def bad(args, capsys, message):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err


@pytest.mark.parametrize("flags, message", [
    (["--image-size", "48", "--classifier", "resnet18"], "must be divisible by 32"),
    (["--image-size", "60"], "must be divisible by 8"),
    (["--epochs", "1,1"], "3 values"),
    (["--classifier", "alexnet"], "unknown classifier 'alexnet'"),
    (["--optimizer", "rmsprop"], "unknown optimizer"),
    (["--preset", "quick"], "invalid choice: 'quick'"),
])
def test_bad_training_values_write_nothing(tiny_index, tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    bad(["train", "--dataset", str(tiny_index), "--out", str(out), *TINY, *flags], capsys, message)
    assert not out.exists()


def write_index(folder, rows, columns=("image", "mask", "label", "split")):
    frame = pd.DataFrame(rows, columns=list(columns))
    frame.to_csv(folder / "index.csv", index=False)
    return folder / "index.csv"


def copy_rows(tiny_index, drop_masks=False):
    frame = pd.read_csv(tiny_index, keep_default_na=False)
    frame["image"] = [str(tiny_index.parent / p) for p in frame["image"]]
    frame["mask"] = "" if drop_masks else [str(tiny_index.parent / p) for p in frame["mask"]]
    return frame[["image", "mask", "label", "split"]]


def test_hybrid_loss_without_masks(tiny_index, tmp_path, capsys):
    csv = write_index(tmp_path, copy_rows(tiny_index, drop_masks=True).values.tolist())
    bad(["train", "--dataset", str(csv), "--out", str(tmp_path / "run"), *TINY], capsys, "hybrid loss needs masks")
    assert not (tmp_path / "run").exists()


def test_missing_image_file_is_named(tiny_index, tmp_path, capsys):
    rows = copy_rows(tiny_index)
    rows.loc[3, "image"] = str(tmp_path / "gone.png")
    csv = write_index(tmp_path, rows.values.tolist())
    bad(["train", "--dataset", str(csv), "--out", str(tmp_path / "run"), *TINY], capsys, "gone.png")


def test_unreadable_mask_file_is_named(tiny_index, tmp_path, capsys):
    rows = copy_rows(tiny_index)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    rows.loc[0, "mask"] = str(tmp_path / "broken.png")
    csv = write_index(tmp_path, rows.values.tolist())
    bad(["train", "--dataset", str(csv), "--out", str(tmp_path / "run"), *TINY], capsys, "broken.png")


def test_csv_without_columns_or_with_unknown_split(tiny_index, tmp_path, capsys):
    rows = copy_rows(tiny_index)
    csv = write_index(tmp_path, rows[["image", "mask", "split"]].values.tolist(), ("image", "mask", "split"))
    bad(["train", "--dataset", str(csv), "--out", str(tmp_path / "run"), *TINY], capsys, "label")
    rows.loc[2, "split"] = "validation"
    csv = write_index(tmp_path, rows.values.tolist())
    bad(["train", "--dataset", str(csv), "--out", str(tmp_path / "run"), *TINY], capsys, "validation")


def test_diagnose_writes_the_oracle_table_and_the_head_figures(tiny_run, tiny_index, tmp_path, capsys):
    out = tmp_path / "diagnosis"
    assert main(["diagnose", str(tiny_run / "model.pt"), "--dataset", str(tiny_index), "--out", str(out)]) == 0
    table = pd.read_csv(out / "oracle_maps.csv")
    assert list(table.columns) == ["heatmap", "accuracy", "positive_share"]
    assert {"explainer", "explainer x 0.8", "explainer x 1.25", "white", "black", "every object's boxes",
            "explainer inside target boxes, black negatives"} <= set(table["heatmap"])
    tested = json.loads((tiny_run / "metrics.json").read_text())["test_accuracy"]
    assert table.set_index("heatmap").loc["explainer", "accuracy"] == pytest.approx(tested)
    head = json.loads((out / "diagnosis.json").read_text())
    assert 0.0 <= head["saturated_pixel_share"] <= head["dead_pixel_share"] <= 1.0
    assert "dead_pixel_share" in capsys.readouterr().out


def test_synthetic_data_ladder_flags(tmp_path, capsys):
    from xmllib.data.polygons import read_references

    out = tmp_path / "ladder"
    assert main(["data", "synthetic", "--out", str(out), "--distractors", "circle,square", "--background", "white",
                 "--n-train", "6", "--n-val", "2", "--n-test", "4", "--image-size", "32", "--radius", "4,7"]) == 0
    spec = (out / "spec.yaml").read_text()
    assert "background: white" in spec and "- - -1\n  - 1\n- - 4\n  - 1\n" in spec
    printed = capsys.readouterr().out
    assert f"test {read_references(out)['test']:.3f}" in printed and "reference to beat" in printed
    with pytest.raises(SystemExit):
        main(["data", "synthetic", "--out", str(tmp_path / "x"), "--distractors", "circle,oval"])
    assert "unknown polygon name(s) ['oval']" in capsys.readouterr().err


def test_digits_command_writes_an_index_the_dataset_reads(tmp_path, capsys):
    from xmllib.data import IndexDataset, read_index

    out = tmp_path / "digits"
    assert main(["data", "digits", "--out", str(out), "--counts", "8,4,4", "--image-size", "32"]) == 0
    index = read_index(out / "index.csv")
    assert len(index) == 16 and set(index["label"]) == {"three", "no_three"}
    sample = IndexDataset(index, "train", 32)[0]
    assert sample["image"].shape == (3, 32, 32) and bool(sample["has_mask"])
    assert str(out / "index.csv") in capsys.readouterr().out
