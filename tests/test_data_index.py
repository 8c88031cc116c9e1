"""The CSV index: validation errors, path resolution, class names."""

import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from xmllib.data import DatasetError, class_names, read_index


def _png(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4), value, np.uint8)).save(path)


def _write_index(folder, rows, columns=None):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "index.csv"
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path


def test_paths_are_resolved_against_the_csv_folder(tmp_path):
    data = tmp_path / "data"
    _png(data / "images" / "a.png")
    _png(data / "images" / "b.png")
    _png(data / "masks" / "a.png")
    elsewhere = tmp_path / "elsewhere.png"
    _png(elsewhere)
    csv = _write_index(data, [
        {"image": "images/a.png", "mask": "masks/a.png", "label": "x", "split": "train"},
        {"image": "images/b.png", "mask": "", "label": "y", "split": "val"},
        {"image": str(elsewhere), "mask": "", "label": "x", "split": "test"},
    ])
    frame = read_index(os.path.relpath(csv))
    assert frame["image"].tolist() == [
        str(data / "images" / "a.png"), str(data / "images" / "b.png"), str(elsewhere)
    ]
    assert frame["mask"].tolist() == [str(data / "masks" / "a.png"), "", ""]
    assert frame["distractors"].tolist() == ["", "", ""]
    assert frame["label"].tolist() == ["x", "y", "x"]


def test_numeric_labels_stay_strings(tmp_path):
    _png(tmp_path / "a.png")
    csv = _write_index(tmp_path, [{"image": "a.png", "label": 1, "split": "train"}])
    assert read_index(csv)["label"].tolist() == ["1"]


def test_missing_required_columns_are_named(tmp_path):
    _png(tmp_path / "a.png")
    csv = _write_index(tmp_path, [{"image": "a.png", "class": "x"}])
    with pytest.raises(DatasetError, match=r"\['label', 'split'\].*'image', 'label', 'split'"):
        read_index(csv)


def test_unknown_splits_are_named_with_their_lines(tmp_path):
    _png(tmp_path / "a.png")
    rows = [
        {"image": "a.png", "label": "x", "split": "train"},
        {"image": "a.png", "label": "x", "split": "training"},
        {"image": "a.png", "label": "x", "split": "val"},
        {"image": "a.png", "label": "x", "split": "valid"},
    ]
    with pytest.raises(DatasetError, match=r"\['training', 'valid'\] on lines \[3, 5\]"):
        read_index(_write_index(tmp_path, rows))


def test_empty_labels_are_rejected(tmp_path):
    _png(tmp_path / "a.png")
    rows = [{"image": "a.png", "label": "x", "split": "train"},
            {"image": "a.png", "label": "", "split": "train"}]
    with pytest.raises(DatasetError, match=r"empty 'label' on lines \[3\]"):
        read_index(_write_index(tmp_path, rows))


def test_missing_files_are_counted_and_named(tmp_path):
    _png(tmp_path / "present.png")
    rows = [{"image": f"gone{i}.png", "mask": "present.png", "label": "x", "split": "train"}
            for i in range(7)]
    rows.append({"image": "present.png", "mask": "nomask.png", "label": "x", "split": "train"})
    with pytest.raises(DatasetError, match=r"8 files .* do not exist") as error:
        read_index(_write_index(tmp_path, rows))
    assert str(tmp_path / "gone0.png") in str(error.value)
    assert "gone6.png" not in str(error.value)


def test_missing_index_file(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_index(tmp_path / "index.csv")


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


def _frame(labels_and_splits):
    return pd.DataFrame(
        [{"image": "", "label": label, "split": split} for label, split in labels_and_splits]
    )


def test_class_names_are_the_sorted_train_labels():
    frame = _frame([("zebra", "train"), ("horse", "train"), ("zebra", "val"), ("horse", "test")])
    assert class_names(frame) == ["horse", "zebra"]


def test_class_names_reject_labels_missing_from_train():
    frame = _frame([("zebra", "train"), ("horse", "val"), ("donkey", "test")])
    with pytest.raises(DatasetError, match=r"\['donkey', 'horse'\]"):
        class_names(frame)


def test_class_names_need_a_train_split():
    with pytest.raises(DatasetError, match="no train rows"):
        class_names(_frame([("zebra", "test")]))
