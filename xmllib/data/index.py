"""The CSV index: one table that describes every dataset (format in docs/design.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

REQUIRED_COLUMNS = ("image", "label", "split")
PATH_COLUMNS = ("image", "mask", "distractors")
SPLITS = ("train", "val", "test")
_SHOWN = 5


class DatasetError(ValueError):
    """A dataset (index, image or mask file) that cannot be used as it is."""


def read_index(csv_path: str | Path) -> pd.DataFrame:
    """Read and check an index CSV; return it with absolute path strings.

    The result always has the columns image, mask, distractors, label and split
    (plus any extra columns of the file); an empty or absent mask/distractors
    entry is "" (no annotation).
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"index file {csv_path} does not exist")
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    _check_columns(frame, csv_path)
    _check_required_values(frame, csv_path)
    _check_splits(frame, csv_path)
    frame = _resolve_paths(frame, csv_path.resolve().parent)
    _check_files_exist(frame, csv_path)
    return frame


def class_names(frame: pd.DataFrame) -> list[str]:
    """Class names in class-index order: the sorted labels of the train split."""
    train_labels = set(frame.loc[frame["split"] == "train", "label"])
    if not train_labels:
        raise DatasetError(
            "the index has no train rows, and class names come from the train split; "
            "pass the class names explicitly"
        )
    unknown = sorted(set(frame["label"]) - train_labels)
    if unknown:
        raise DatasetError(
            f"labels {unknown} appear in val/test but not in train; "
            f"every label must have train examples (train labels: {sorted(train_labels)})"
        )
    return sorted(train_labels)


def _csv_lines(mask: pd.Series) -> list[int]:
    """CSV line numbers (the header is line 1) of the rows where mask is true."""
    return [int(row) + 2 for row in mask.to_numpy().nonzero()[0]]


def _check_columns(frame: pd.DataFrame, csv_path: Path) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise DatasetError(
            f"{csv_path} lacks the required columns {missing}; expected columns "
            f"{list(REQUIRED_COLUMNS)} and optionally mask, distractors"
        )


def _check_required_values(frame: pd.DataFrame, csv_path: Path) -> None:
    for column in REQUIRED_COLUMNS:
        empty = frame[column].str.strip() == ""
        if empty.any():
            raise DatasetError(
                f"{csv_path}: empty {column!r} on lines {_csv_lines(empty)[:_SHOWN]}; "
                f"every row needs an image, a label and a split"
            )


def _check_splits(frame: pd.DataFrame, csv_path: Path) -> None:
    bad = ~frame["split"].isin(SPLITS)
    if bad.any():
        raise DatasetError(
            f"{csv_path}: unknown split values {sorted(set(frame.loc[bad, 'split']))} "
            f"on lines {_csv_lines(bad)[:_SHOWN]}; split must be one of {list(SPLITS)}"
        )


def _resolve_paths(frame: pd.DataFrame, folder: Path) -> pd.DataFrame:
    frame = frame.copy()
    for column in PATH_COLUMNS:
        values = frame[column] if column in frame.columns else pd.Series("", index=frame.index)
        frame[column] = [
            os.path.abspath(folder / value) if value.strip() else "" for value in values
        ]
    return frame


def _check_files_exist(frame: pd.DataFrame, csv_path: Path) -> None:
    paths = dict.fromkeys(path for column in PATH_COLUMNS for path in frame[column] if path)
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        raise DatasetError(
            f"{len(missing)} files referenced by {csv_path} do not exist, "
            f"for example {missing[:_SHOWN]}"
        )


def write_index(frame: pd.DataFrame, csv_path: str | Path) -> Path:
    """Write an index as CSV, its file paths made relative to the CSV's folder; returns the CSV's path."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    folder = csv_path.resolve().parent
    out = frame.copy()
    for column in PATH_COLUMNS:
        if column in out:
            out[column] = [Path(os.path.relpath(path, folder)).as_posix() if path else "" for path in out[column]]
    out.to_csv(csv_path, index=False)
    return csv_path
