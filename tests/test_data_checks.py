"""Data checks: the summary, and each kind of wrong data as a clear error or a named, counted skip."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from xmllib.cli import main
from xmllib.data import (
    BadDataError,
    DatasetError,
    check_dataset,
    check_index,
    read_index,
    summarise,
)
from xmllib.data.checks import (
    CLASS_MISSING,
    DUPLICATE,
    LABEL_NOT_IN_TRAIN,
    NOT_BINARY,
    SIZE_DIFFERS,
    UNREADABLE,
)


def _png(path, array):
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path.name


def _box_mask(value=255, size=(6, 8)):
    mask = np.zeros(size, np.uint8)
    mask[1:3, 2:5] = value
    return mask


@pytest.fixture
def clean_rows(tmp_path):
    """Two classes, 2 train / 1 val / 1 test image each, 6 x 8 (H x W); the a's have masks, b's last is empty."""
    rows = []
    for label in ("a", "b"):
        for i, split in enumerate(("train", "train", "val", "test")):
            name = f"{label}{i}"
            image = _png(tmp_path / f"{name}.png", np.full((6, 8, 3), 40 * i, np.uint8))
            mask = ""
            if label == "a":
                mask = _png(tmp_path / f"{name}_mask.png", _box_mask())
            elif i == 3:
                mask = _png(tmp_path / f"{name}_mask.png", np.zeros((6, 8)))
            rows.append({"image": image, "mask": mask, "label": label, "split": split})
    return rows


def _index(tmp_path, rows):
    pd.DataFrame(rows).to_csv(tmp_path / "index.csv", index=False)
    return read_index(tmp_path / "index.csv")


def test_clean_index_passes_with_its_summary(tmp_path, clean_rows):
    report = check_index(_index(tmp_path, clean_rows))
    assert len(report.index) == 8 and report.skipped.empty
    summary = report.summary
    assert summary.loc[("train", "a")].tolist() == [2, 2, 0, 0]   # images, with_mask, empty_mask, without_mask
    assert summary.loc[("train", "b")].tolist() == [2, 0, 0, 2]
    assert summary.loc[("test", "b")].tolist() == [1, 1, 1, 0]
    assert summary.loc[("all", "")].tolist() == [8, 5, 1, 3]
    assert [split for split, _ in summary.index] == ["train"] * 2 + ["val"] * 2 + ["test"] * 2 + ["all"]


def _truncated_png(tmp_path):
    _png(tmp_path / "full.png", np.random.default_rng(0).integers(0, 256, (32, 32, 3)))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    return "cut.png"


def _new_row(tmp_path, label, split):
    return {"image": _png(tmp_path / "new.png", np.zeros((6, 8, 3))), "mask": "", "label": label, "split": split}


def _not_an_image(tmp_path):
    (tmp_path / "text.png").write_text("hello")
    return "text.png"


# Each case breaks the clean index in one way: (change to the rows, problem, rows hit, words of the detail)
CASES = {
    "duplicate row": (lambda rows, tmp: rows.append(dict(rows[1])), DUPLICATE, [8], "already on line 3"),
    "truncated image": (lambda rows, tmp: rows[1].update(image=_truncated_png(tmp)), UNREADABLE, [1], "cut.png"),
    "not an image": (lambda rows, tmp: rows[5].update(image=_not_an_image(tmp)), UNREADABLE, [5], "text.png"),
    "unreadable mask": (lambda rows, tmp: rows[0].update(mask=_not_an_image(tmp)), UNREADABLE, [0], "text.png"),
    "mask of another size": (
        lambda rows, tmp: rows[1].update(mask=_png(tmp / "big.png", _box_mask(size=(8, 6)))),
        SIZE_DIFFERS, [1], "is 6 x 8 but its image"),
    "0/1 mask": (lambda rows, tmp: rows[0].update(mask=_png(tmp / "m01.png", _box_mask(1))),
                 NOT_BINARY, [0], "values [0, 1]"),
    "grey mask": (lambda rows, tmp: rows[1].update(mask=_png(tmp / "grey.png", _box_mask(128))),
                  NOT_BINARY, [1], "values [0, 128]"),
    "label not in train": (lambda rows, tmp: rows.append(_new_row(tmp, "c", "val")), LABEL_NOT_IN_TRAIN, [8],
                           "class 'c' (val) has no train images"),
    "class missing from a split": (lambda rows, tmp: rows[7].update(split="train"), CLASS_MISSING,
                                   [4, 5, 6, 7], "class 'b' has no test images"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_problem_is_an_error_naming_it(tmp_path, clean_rows, case):
    change, problem, rows, detail = CASES[case]
    change(clean_rows, tmp_path)
    with pytest.raises(BadDataError) as error:
        check_index(_index(tmp_path, clean_rows))
    message = str(error.value)
    assert f"{problem}: {len(rows)} rows" in message and detail in message
    assert f"line{'s' if len(rows) > 1 else ''} {', '.join(str(r + 2) for r in rows)}:" in message
    assert "--on-bad-data skip" in message


@pytest.mark.parametrize("case", CASES)
def test_each_problem_is_a_named_counted_skip(tmp_path, clean_rows, case):
    change, problem, rows, detail = CASES[case]
    change(clean_rows, tmp_path)
    frame = _index(tmp_path, clean_rows)
    report = check_index(frame, on_bad_data="skip")
    assert report.skipped["line"].tolist() == [r + 2 for r in rows]
    assert set(report.skipped["problem"]) == {problem}
    assert all(detail in text for text in report.skipped["detail"])
    assert sorted(report.index.index) == sorted(set(frame.index) - set(rows))
    assert report.summary.loc[("all", ""), "images"] == len(frame) - len(rows)


def test_messages_name_files_relative_to_the_working_directory(tmp_path, clean_rows, monkeypatch):
    """A notebook prints these messages into its saved outputs: no path of the machine that ran it."""
    for case in ("0/1 mask", "not an image", "duplicate row", "mask of another size"):
        CASES[case][0](clean_rows, tmp_path)
    frame = _index(tmp_path, clean_rows)
    assert frame["image"].str.startswith(str(tmp_path)).all(), "read_index makes the paths absolute"
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(BadDataError) as error:
        check_index(frame)
    message = str(error.value)
    assert str(tmp_path) not in message
    for shown in (f"{tmp_path.name}/a1.png is already on line 3", f"{tmp_path.name}/text.png",
                  f"{tmp_path.name}/m01.png holds", f"{tmp_path.name}/big.png is 6 x 8 but its image "
                  f"{tmp_path.name}/a1.png"):
        assert shown in message
    skipped = check_index(frame, on_bad_data="skip").skipped
    assert not skipped["detail"].str.contains(str(tmp_path), regex=False).any()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert str(tmp_path / "a1.png") in str(pytest.raises(BadDataError, check_index, frame).value), \
        "a file outside the working directory keeps its full path"


def test_all_problems_are_listed_at_once(tmp_path, clean_rows):
    for case in ("0/1 mask", "not an image", "duplicate row"):
        CASES[case][0](clean_rows, tmp_path)
    with pytest.raises(BadDataError, match="3 bad rows") as error:
        check_index(_index(tmp_path, clean_rows))
    for problem in (NOT_BINARY, UNREADABLE, DUPLICATE):
        assert f"{problem}: 1 rows" in str(error.value)


def test_a_skip_can_make_a_later_problem(tmp_path, clean_rows):
    """The only val image of b is unreadable: skipping it leaves b without val images, so b goes too."""
    clean_rows[6]["image"] = _not_an_image(tmp_path)
    report = check_index(_index(tmp_path, clean_rows), on_bad_data="skip")
    assert report.skipped.set_index("line")["problem"].to_dict() == {
        8: UNREADABLE, 6: CLASS_MISSING, 7: CLASS_MISSING, 9: CLASS_MISSING}
    assert set(report.index["label"]) == {"a"}


def test_summary_counts_by_hand(tmp_path, clean_rows):
    frame = _index(tmp_path, clean_rows).iloc[[0, 4, 7]]
    table = summarise(frame)
    assert table.to_dict("index") == {
        ("train", "a"): {"images": 1, "with_mask": 1, "empty_mask": 0, "without_mask": 0},
        ("train", "b"): {"images": 1, "with_mask": 0, "empty_mask": 0, "without_mask": 1},
        ("test", "b"): {"images": 1, "with_mask": 1, "empty_mask": 1, "without_mask": 0},
        ("all", ""): {"images": 3, "with_mask": 2, "empty_mask": 1, "without_mask": 1},
    }


def test_unknown_mode(tmp_path, clean_rows):
    with pytest.raises(ValueError, match="on_bad_data must be one of"):
        check_index(_index(tmp_path, clean_rows), on_bad_data="ignore")


def test_run_needs_two_classes_after_skipping(tmp_path, clean_rows, tiny_config):
    clean_rows[7]["split"] = "train"   # b has no test image: skipping it leaves a alone
    pd.DataFrame(clean_rows).to_csv(tmp_path / "index.csv", index=False)
    with pytest.raises(DatasetError, match=r"at least two classes.*\['a'\]"):
        check_dataset(tmp_path / "index.csv", tiny_config.replace(on_bad_data="skip"))


def test_cli_check_and_train_on_bad_data(tmp_path, clean_rows, capsys):
    CASES["grey mask"][0](clean_rows, tmp_path)
    pd.DataFrame(clean_rows).to_csv(tmp_path / "index.csv", index=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--dataset", str(tmp_path / "index.csv"), "--out", str(tmp_path / "run"),
              "--preset", "tutorial", "--device", "cpu"])
    assert exit_info.value.code == 2 and "grey.png" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert main(["data", "check", str(tmp_path / "index.csv"), "--on-bad-data", "skip",
                 "--out", str(tmp_path / "kept.csv")]) == 0
    assert "1 bad rows, left out" in capsys.readouterr().out
    kept = read_index(tmp_path / "kept.csv")
    assert len(kept) == 7 and not kept["mask"].str.endswith("grey.png").any()


def test_run_folder_keeps_the_summary_and_the_skipped_rows(tmp_path, clean_rows):
    from xmllib.runs import write_data_files

    CASES["0/1 mask"][0](clean_rows, tmp_path)
    report = check_index(_index(tmp_path, clean_rows), on_bad_data="skip")
    write_data_files(tmp_path, report, {"a": 1.0, "b": 2.0})
    skipped = pd.read_csv(tmp_path / "skipped_rows.csv")
    assert skipped[["line", "problem"]].values.tolist() == [[2, NOT_BINARY]]
    assert pd.read_csv(tmp_path / "data_summary.csv")["images"].tolist() == [1, 2, 1, 1, 1, 1, 7]
    assert json.loads((tmp_path / "class_weights.json").read_text()) == {"a": 1.0, "b": 2.0}
