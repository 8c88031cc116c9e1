"""Bad input through `python -m xmllib`: a one-line message, the exit status, and nothing left behind.

Every case here is a row of the table in docs/bad_inputs.md (a test keeps the two equal).
"""

import os
import re
import urllib.error
from pathlib import Path

import pandas as pd
import pytest
import torch
import torchvision
from PIL import Image

from xmllib.assembly import model_from_config
from xmllib.checkpoints import load_checkpoint, save_checkpoint
from xmllib.cli import main
from xmllib.config import preset
from xmllib.data import class_names, read_index

TINY = ["--preset", "tutorial", "--epochs", "1,1,1", "--min-steps", "0,0,0", "--image-size", "32",
        "--batch-size", "8", "--explainer-width", "4", "--device", "cpu"]
DOCS = Path(__file__).parents[1] / "docs" / "bad_inputs.md"

#: case -> the message it gets (the part that does not depend on paths); docs/bad_inputs.md lists them all
MESSAGES = {
    "malformed YAML config": "is not valid YAML: ",
    "device mps without an Apple GPU": "device 'mps' was asked for but this machine has no Apple GPU",
    "pretrained weights offline": "could not download torchvision's ResNet18_Weights.IMAGENET1K_V1 weights",
    "batch of one image at 32 px": "a batch of 1 image cannot train this model at 32 x 32 px",
    "learning rate that diverges within one batch": (
        "became NaN or infinite in phase 1, epoch 1; training stopped and no checkpoint was written"),
    "Ctrl-C during training": "training interrupted in phase 1, epoch 2; ",
    "JPEG mask given to test": "mask not binary",
    "mask of another size given to evaluate": "mask size differs",
    "unreadable image given to explain": "cannot read image file",
    "checkpoint holding pickled code": "holds Python objects (",
    "checkpoint that does not exist": "does not exist",
}


def run(args, capsys, status=2, one_line=True):
    """Run the CLI; assert the exit status and one line on stderr (a list of bad rows may take more)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(arg) for arg in args])
    assert exit_info.value.code == status
    err = capsys.readouterr().err
    assert "Traceback" not in err and (err.count("\n") == 1 or not one_line), err
    return err


def assert_message(case, err):
    assert MESSAGES[case] in err, err


@pytest.fixture(scope="module")
def checkpoint(tiny_index, tmp_path_factory):
    """A randomly initialised 32 px model, saved as training saves model.pt."""
    config = preset("tutorial").replace(image_size=32, explainer_width=4, device="cpu")
    torch.manual_seed(0)
    names = class_names(read_index(tiny_index))
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_checkpoint(path, {"config": config.to_dict(), "class_names": names,
                           "model": model_from_config(config, len(names)).state_dict()})
    return path


def index_with(tiny_index, folder, change):
    """A copy of the tiny index with absolute paths, `change(frame, folder)` applied; its CSV path."""
    frame = pd.read_csv(tiny_index, keep_default_na=False)
    for column in ("image", "mask", "distractors"):
        frame[column] = [str(tiny_index.parent / path) if path else "" for path in frame[column]]
    change(frame, folder)
    frame.to_csv(folder / "index.csv", index=False)
    return folder / "index.csv"


def train_args(tiny_index, out, *flags):
    return ["train", "--dataset", tiny_index, "--out", out, *TINY, *flags]


def test_malformed_yaml_config(tiny_index, tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("gamma: [1, 2\nbeta: 0.5\n")
    err = run(train_args(tiny_index, tmp_path / "run", "--config", tmp_path / "c.yaml"), capsys)
    assert_message("malformed YAML config", err)
    assert re.search(r"\(line \d+, column \d+\)", err)
    assert not (tmp_path / "run").exists()


def test_device_mps_without_an_apple_gpu(tiny_index, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    err = run(train_args(tiny_index, tmp_path / "run", "--device", "mps"), capsys)
    assert_message("device mps without an Apple GPU", err)
    assert not (tmp_path / "run").exists()


def test_pretrained_weights_offline(tiny_index, tmp_path, capsys, monkeypatch):
    def no_network(weights, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", no_network)
    err = run(train_args(tiny_index, tmp_path / "run", "--classifier", "resnet18", "--pretrained", "true"), capsys)
    assert_message("pretrained weights offline", err)
    assert "Temporary failure in name resolution" in err and "checkpoints" in err
    assert not (tmp_path / "run").exists()


def test_batch_of_one_image_at_32_px(tiny_index, tmp_path, capsys):
    err = run(train_args(tiny_index, tmp_path / "run", "--classifier", "resnet18", "--batch-size", "1"), capsys)
    assert_message("batch of one image at 32 px", err)
    assert "use a batch size of 2 or more" in err
    assert not (tmp_path / "run").exists()


def test_learning_rate_that_diverges_within_one_batch(tiny_index, tmp_path, capsys):
    out = tmp_path / "run"
    err = run(train_args(tiny_index, out, "--optimizer", "sgd", "--lr-clf", "1e6,0,1e6", "--batch-size", "16"),
              capsys)
    assert_message("learning rate that diverges within one batch", err)
    assert not {"checkpoint.pt", "model.pt", "metrics.json"} & {path.name for path in out.iterdir()}


def test_ctrl_c_during_training_says_where_and_the_same_command_resumes(tiny_index, tmp_path, capsys,
                                                                       monkeypatch):
    from xmllib.runs import EpochPrinter

    out = tmp_path / "run"
    args = train_args(tiny_index, out, "--epochs", "2,1,1", "--patience", "5,5,5")
    printed = EpochPrinter.on_epoch_end

    def interrupt_at_epoch_2(self, history, model):
        if len(history) == 2:
            raise KeyboardInterrupt
        printed(self, history, model)

    monkeypatch.setattr(EpochPrinter, "on_epoch_end", interrupt_at_epoch_2)
    err = run(args, capsys, status=130)
    assert_message("Ctrl-C during training", err)
    assert f"{out / 'checkpoint.pt'} holds phase 1 up to its epoch 2; the same command resumes from there" in err
    monkeypatch.setattr(EpochPrinter, "on_epoch_end", printed)
    assert main([str(arg) for arg in args]) == 0
    lines = capsys.readouterr().out
    assert "phase 1 epoch 1:" not in lines and "phase 2 epoch 1:" in lines
    assert load_checkpoint(out / "checkpoint.pt")["phase"] == 3


def jpeg_mask(frame, folder):
    row = next(row for row in frame.index[(frame["split"] == "test") & (frame["mask"] != "")]
               if Image.open(frame.at[row, "mask"]).getextrema() != (0, 0))  # a mask with an object
    Image.open(frame.at[row, "mask"]).convert("L").save(folder / "mask.jpg", quality=50)
    frame.at[row, "mask"] = str(folder / "mask.jpg")


def test_jpeg_mask_given_to_test(tiny_index, checkpoint, tmp_path, capsys):
    csv = index_with(tiny_index, tmp_path, jpeg_mask)
    err = run(["test", checkpoint, "--dataset", csv, "--out", tmp_path / "out"], capsys, one_line=False)
    assert_message("JPEG mask given to test", err)
    assert "--on-bad-data skip" in err and not (tmp_path / "out").exists()
    assert main(["test", str(checkpoint), "--dataset", str(csv), "--on-bad-data", "skip"]) == 0
    assert '"skipped_rows": 1' in capsys.readouterr().out


def test_mask_of_another_size_given_to_evaluate(tiny_index, checkpoint, tmp_path, capsys):
    def small_mask(frame, folder):
        row = frame.index[(frame["split"] == "test") & (frame["mask"] != "")][0]
        Image.open(frame.at[row, "mask"]).resize((16, 16)).save(folder / "small.png")
        frame.at[row, "mask"] = str(folder / "small.png")

    csv = index_with(tiny_index, tmp_path, small_mask)
    err = run(["evaluate", checkpoint, "--dataset", csv, "--out", tmp_path / "out", "--n-images", "2",
               "--steps", "1", "--patch-sizes", "16", "--methods", "in-model"], capsys, one_line=False)
    assert_message("mask of another size given to evaluate", err)
    assert not (tmp_path / "out").exists()


def test_unreadable_image_given_to_explain(tiny_index, checkpoint, tmp_path, capsys):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    good = tiny_index.parent / "images" / "00000.png"
    err = run(["explain", checkpoint, good, tmp_path / "broken.png", "--out", tmp_path / "out"], capsys)
    assert_message("unreadable image given to explain", err)
    assert "broken.png" in err and not (tmp_path / "out").exists()


class Payload:
    """Stands for code a foreign checkpoint would run when unpickled."""


def test_checkpoint_holding_pickled_code(tiny_index, tmp_path, capsys):
    torch.save({"config": {}, "class_names": [], "model": {}, "payload": Payload()}, tmp_path / "foreign.pt")
    err = run(["test", tmp_path / "foreign.pt", "--dataset", tiny_index], capsys)
    assert_message("checkpoint holding pickled code", err)
    assert "Payload" in err and "can run code" in err


def test_checkpoint_that_does_not_exist(tiny_index, tmp_path, capsys):
    err = run(["explain", tmp_path / "gone.pt", tiny_index.parent / "images" / "00000.png",
               "--out", tmp_path / "out"], capsys)
    assert_message("checkpoint that does not exist", err)
    assert not (tmp_path / "out").exists()


def test_checkpoints_load_without_pickled_code_and_keep_the_umask(checkpoint, tmp_path):
    state = torch.load(checkpoint, weights_only=True)
    assert {"config", "class_names", "model"} <= set(state)
    previous = os.umask(0o027)
    try:
        save_checkpoint(tmp_path / "c.pt", state)
    finally:
        os.umask(previous)
    assert (tmp_path / "c.pt").stat().st_mode & 0o777 == 0o640
    assert not list(tmp_path.glob(".*.tmp"))


def test_docs_table_lists_every_case_with_its_message():
    rows = {}
    for line in DOCS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3:
            rows[cells[0]] = cells[2]
    for case, message in MESSAGES.items():
        assert case in rows, f"docs/bad_inputs.md has no row {case!r}"
        assert message.strip() in rows[case].replace("`", ""), (case, rows[case])
