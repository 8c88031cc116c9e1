"""Runs recorded for the notebooks: what a configuration too slow to train in a notebook gave on the demo data.

A recorded run is a folder of `recorded/` in this package (so it travels to Colab and
Binder with `pip install`): `run.json` (the command that trained it, the machine, the
minutes the run took, training and test together, its test figures) and
`explanations.png` (its test images, heatmaps and the triangles' boxes, as `python -m
xmllib train` drew them). `tools/record_run.py` writes one from a run folder; notebook 06
shows the paper's recipe through `recorded_run`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

RECORDED = Path(__file__).resolve().parent / "recorded"
FIGURE = "explanations.png"
#: the test figures a recorded run keeps, from its metrics.json
FIGURES = ("test_accuracy", "target_selectivity", "every_object_selectivity", "mass_inside_mask", "pointing_game")


@dataclass(frozen=True)
class RecordedRun:
    """A run trained outside the notebooks: how it was trained, on what, what it reached, and its figure."""

    name: str
    command: str
    machine: str
    minutes: float
    figures: dict[str, float]
    figure: Path

    def describe(self) -> str:
        """How it was trained: the command, the minutes and the machine (`describe_localisation` of `figures`
        says what it reached)."""
        return f"Trained with `{self.command}` in {self.minutes:.0f} minutes on {self.machine}."


def recorded_runs(root: Path = RECORDED) -> list[str]:
    """The names of the recorded runs under `root` (this package's by default)."""
    return sorted(path.parent.name for path in root.glob("*/run.json"))


def recorded_run(name: str, root: Path = RECORDED) -> RecordedRun:
    """The recorded run `name` (one of `recorded_runs(root)`)."""
    folder = root / name
    if not (folder / "run.json").is_file():
        raise ValueError(f"no recorded run named {name!r}; there are {recorded_runs(root)}")
    record = json.loads((folder / "run.json").read_text())
    return RecordedRun(name=name, command=record["command"], machine=record["machine"], minutes=record["minutes"],
                       figures={key: float(record["figures"][key]) for key in FIGURES}, figure=folder / FIGURE)
