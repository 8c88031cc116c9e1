"""Data checks before training: a summary of the index, and every bad row either stops the run or is skipped.

The problems looked for, in this order (each check sees the rows the previous ones kept):

- duplicate row: an image already listed on an earlier row (the first row is kept);
- unreadable file: an image, mask or distractors file that cannot be decoded
  (not an image, or truncated);
- mask size differs: a mask or distractors file whose size is not its image's;
- mask not binary: a mask holding values other than 0 and 255 (the loader
  thresholds at 127, so a 0/1 mask would read as empty, and grey or JPEG masks are
  ambiguous);
- label not in train: a val or test row whose class has no train rows;
- class missing from a split: a class with train rows but none in val or test
  (skipping leaves out every row of that class).

With on_bad_data "error" any problem stops everything, with a list of all of
them; with "skip" the bad rows are left out, and the report names and counts them.
Nothing is dropped silently. Messages name files relative to the working directory when
they lie under it (`shown_path`), so that a notebook's saved output holds no path of the
machine that ran it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xmllib.config import ON_BAD_DATA, Config

from .dataset import open_image
from .index import SPLITS, DatasetError, class_names, read_index

DUPLICATE = "duplicate row"
UNREADABLE = "unreadable file"
SIZE_DIFFERS = "mask size differs"
NOT_BINARY = "mask not binary"
LABEL_NOT_IN_TRAIN = "label not in train"
CLASS_MISSING = "class missing from a split"
MASK_COLUMNS = ("mask", "distractors")
_SHOWN = 5


class BadDataError(DatasetError):
    """An index with bad rows, checked with on_bad_data="error"."""


@dataclass
class DataReport:
    """The outcome of ``check_index``.

    index: the rows kept (all of them when nothing was skipped), with the input's row labels.
    skipped: the rows left out: line (CSV line, header = 1), image, label, split, problem, detail.
    summary: image counts per split and class (``summarise``) of the rows kept.
    """

    index: pd.DataFrame
    skipped: pd.DataFrame
    summary: pd.DataFrame


def check_index(frame: pd.DataFrame, on_bad_data: str = "error") -> DataReport:
    """Check an index (``read_index``'s frame); raise BadDataError or skip bad rows, as on_bad_data says."""
    if on_bad_data not in ON_BAD_DATA:
        raise ValueError(f"on_bad_data must be one of {ON_BAD_DATA}, got {on_bad_data!r}")
    kept, found = frame, []
    for check in (duplicate_rows, file_problems, labels_not_in_train, classes_missing_from_splits):
        problems = check(kept)
        found.append(problems)
        kept = kept.drop(problems.index)
    problems = pd.concat(found)
    if len(problems) and on_bad_data == "error":
        raise BadDataError(
            f"the index has {len(problems)} bad rows:\n{describe_problems(problems)}\n"
            "Fix them, or leave them out with --on-bad-data skip (Config.on_bad_data='skip')."
        )
    skipped = frame.loc[problems.index, ["image", "label", "split"]].join(problems)
    skipped.insert(0, "line", skipped.index + 2)
    return DataReport(index=kept, skipped=skipped.reset_index(drop=True), summary=summarise(kept))


def check_index_file(csv_path: str | Path, on_bad_data: str = "error") -> DataReport:
    """`check_index` of the index CSV at `csv_path`: what training, testing and evaluating read."""
    return check_index(read_index(csv_path), on_bad_data)


def check_dataset(csv_path: str | Path, config: Config) -> DataReport:
    """Fail early, before anything is written, on an index this configuration cannot train on.

    Bad rows stop the run or are skipped, as config.on_bad_data says (`check_index`);
    the report's index holds the rows the run uses. A run also needs train, val and test
    rows, two classes, and masks for the hybrid loss.
    """
    report = check_index_file(csv_path, config.on_bad_data)
    index = report.index
    missing = {"train", "val", "test"} - set(index["split"])
    if missing:
        raise DatasetError(f"{csv_path} has no rows in split(s) {sorted(missing)}; a run needs train, val and test")
    classes = class_names(index)
    if len(classes) < 2:
        raise DatasetError(f"a classifier needs at least two classes; the train split of {csv_path} holds {classes}")
    if config.loss == "hybrid" and not (index["mask"] != "").any():
        raise DatasetError(
            f"the hybrid loss needs masks, but no row of {csv_path} has one; "
            "add a mask column or train with --loss unsupervised"
        )
    return report


def shown_path(path: str) -> str:
    """`path` relative to the working directory when it lies under it, else as it is ("" stays "")."""
    if not path or not Path(path).is_absolute():
        return path
    try:
        return Path(path).relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path


def _problems(rows: pd.Index, problem: str, details: list[str]) -> pd.DataFrame:
    """A problems table: one row per bad index row, columns problem and detail."""
    return pd.DataFrame({"problem": problem, "detail": details}, index=rows, dtype=object)


def duplicate_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose image appears on an earlier row."""
    repeated = frame["image"].duplicated()
    first_row: dict[str, int] = {}
    for row, image in zip(frame.index, frame["image"]):
        first_row.setdefault(image, row)
    details = [f"{shown_path(image)} is already on line {first_row[image] + 2}"
               for image in frame.loc[repeated, "image"]]
    return _problems(frame.index[repeated], DUPLICATE, details)


def file_problems(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with an unreadable file, a mask of another size than its image, or a mask that is not binary."""
    found = {row: inspect_files(frame.at[row, "image"], [frame.at[row, c] for c in MASK_COLUMNS if c in frame])
             for row in frame.index}
    bad = {row: problem for row, problem in found.items() if problem is not None}
    return pd.DataFrame(list(bad.values()), index=pd.Index(list(bad), dtype=frame.index.dtype),
                        columns=["problem", "detail"], dtype=object)


def inspect_files(image: str, masks: list[str]) -> tuple[str, str] | None:
    """The first problem of one row's files, as (problem, detail), or None; "" masks are absent."""
    image, masks = shown_path(image), [shown_path(path) for path in masks]
    try:
        size = open_image(image, "RGB").size
    except DatasetError as error:
        return UNREADABLE, str(error)
    for path in filter(None, masks):
        try:
            mask = open_image(path, "L")
        except DatasetError as error:
            return UNREADABLE, str(error)
        if mask.size != size:
            return SIZE_DIFFERS, (f"{path} is {mask.size[0]} x {mask.size[1]} but its image {image} is "
                                  f"{size[0]} x {size[1]} (width x height); masks must match their image")
        values = np.unique(np.asarray(mask))
        if not np.isin(values, (0, 255)).all():
            return NOT_BINARY, (f"{path} holds values {values[:8].tolist()}; masks must hold only 0 and 255 "
                                "(save 0/1 masks multiplied by 255, and masks as PNG, not JPEG)")
    return None


def labels_not_in_train(frame: pd.DataFrame) -> pd.DataFrame:
    """val and test rows whose label has no train rows."""
    train_labels = set(frame.loc[frame["split"] == "train", "label"])
    unseen = (frame["split"] != "train") & ~frame["label"].isin(train_labels)
    details = [f"class {label!r} ({split}) has no train images"
               for label, split in zip(frame.loc[unseen, "label"], frame.loc[unseen, "split"])]
    return _problems(frame.index[unseen], LABEL_NOT_IN_TRAIN, details)


def classes_missing_from_splits(frame: pd.DataFrame) -> pd.DataFrame:
    """Every row of a class that has train rows but no rows in a val or test split that exists."""
    train_labels = set(frame.loc[frame["split"] == "train", "label"])
    absent: dict[str, list[str]] = {}
    for split in set(frame["split"]) - {"train"}:
        for label in sorted(train_labels - set(frame.loc[frame["split"] == split, "label"])):
            absent.setdefault(label, []).append(split)
    rows = frame["label"].isin(absent)
    details = [f"class {label!r} has no {' or '.join(sorted(absent[label]))} images"
               for label in frame.loc[rows, "label"]]
    return _problems(frame.index[rows], CLASS_MISSING, details)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Image counts per split and class: images, with_mask, empty_mask (all zero), without_mask; a total row."""
    has_mask = frame["mask"] != ""
    empty = [bool(path) and np.asarray(open_image(path, "L")).max() <= 127 for path in frame["mask"]]
    counts = pd.DataFrame({
        "split": frame["split"],
        "class": frame["label"],
        "images": 1,
        "with_mask": has_mask.astype(int),
        "empty_mask": np.array(empty, dtype=int),
        "without_mask": (~has_mask).astype(int),
    })
    table = counts.groupby(["split", "class"]).sum()
    table = table.sort_index(key=lambda level: level.map(SPLITS.index) if level.name == "split" else level)
    table.loc[("all", ""), :] = table.sum()
    return table.astype(int)


def describe_problems(problems: pd.DataFrame) -> str:
    """Indented lines: each kind of problem with its row count, then each distinct detail with its CSV lines."""
    lines = []
    for problem, rows in problems.groupby("problem", sort=False):
        lines.append(f"  {problem}: {len(rows)} rows")
        details = rows.groupby("detail", sort=False).groups
        for detail, index in list(details.items())[:_SHOWN]:
            numbers = [int(row) + 2 for row in index]
            more = f" and {len(numbers) - _SHOWN} more" if len(numbers) > _SHOWN else ""
            lines.append(f"    line{'s' if len(numbers) > 1 else ''} "
                         f"{', '.join(map(str, numbers[:_SHOWN]))}{more}: {detail}")
        if len(details) > _SHOWN:
            lines.append(f"    ... and {len(details) - _SHOWN} more")
    return "\n".join(lines)


def format_report(report: DataReport) -> str:
    """The summary table, then the bad rows left out (if any), for the terminal or a notebook."""
    text = f"data summary (images per split and class):\n{report.summary.to_string()}"
    if len(report.skipped):
        problems = report.skipped.set_index(report.skipped["line"] - 2)[["problem", "detail"]]
        text += f"\n{len(report.skipped)} bad rows, left out (on_bad_data='skip'):\n{describe_problems(problems)}"
    return text
