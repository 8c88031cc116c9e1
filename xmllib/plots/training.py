"""Figures of training: the curves of all phases, and one phase's curves with the authors' rule of thumb.

Rules of thumb (method.md section 3): phase 1 stops where the classification loss is
about 25% of its value before the phase (the classifier must stay "unstable" so that
phase 3 can still move it); phase 2 stops where the explanation loss is below about 20%
of its start but not 0 (an explainer at loss 0 outputs black maps and cannot recover).
`phase_curves` draws the threshold on the validation curve and marks the first epoch
that reaches it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from xmllib.evaluation.verdicts import kept_epoch


@dataclass(frozen=True)
class RuleOfThumb:
    """Where the authors stop a phase: once `column` falls to `fraction` of its value before the phase."""

    column: str
    fraction: float
    advice: str


RULES_OF_THUMB = {
    1: RuleOfThumb("clf_loss", 0.25, "stop near 25% of the starting classification loss"),
    2: RuleOfThumb("expl_loss", 0.20, "stop below 20% of the starting explanation loss, before it reaches 0"),
}
"""The rules of thumb of method.md section 3, by phase (phase 3 runs long, with early stopping)."""
COLLAPSED = 1e-3
"""A loss below this fraction of its start counts as 0 (phase 2: black maps)."""


def rule_of_thumb_epoch(values: Sequence[float], fraction: float) -> int | None:
    """The first epoch whose value is at most `fraction` times the start, or None.

    values[0] is the value before the phase trains (epoch 0), values[k] the value after epoch k.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0 or not values[0] > 0:
        raise ValueError(f"need a 1-D sequence of values starting with a positive value, got {values.tolist()}")
    reached = np.flatnonzero(values[1:] <= fraction * values[0])
    return int(reached[0]) + 1 if reached.size else None


TRAINING_PANELS = {
    "loss": "total loss",
    "clf_loss": "classification loss",
    "expl_loss": "explanation loss",
    "accuracy": "accuracy",
}
SPLIT_COLOURS = {"train": "tab:blue", "val": "tab:orange"}
#: the y axis of each panel: what its numbers are
Y_LABELS = {"loss": "loss (mean per image)", "clf_loss": "cross-entropy", "expl_loss": "explanation loss",
            "accuracy": "share of images right"}


def training_curves(history: pd.DataFrame) -> Figure:
    """Train and validation curves of the losses and the accuracy over the epochs of all phases.

    history: one row per epoch in training order, with a `phase` column and
    train_/val_ columns for loss, clf_loss, expl_loss and accuracy (docs/design.md).
    The x axis is the running epoch across phases (the row number, from 1); vertical
    lines separate the phases, each labelled at the top. Four panels.
    """
    required = ["phase"] + [f"{split}_{key}" for key in TRAINING_PANELS for split in ("train", "val")]
    missing = [column for column in required if column not in history.columns]
    if missing or history.empty:
        raise ValueError(f"history needs rows and the columns {required}; missing {missing}")
    running_epoch = np.arange(1, len(history) + 1)
    phases = history["phase"].to_numpy()
    starts = np.flatnonzero(np.r_[True, phases[1:] != phases[:-1]])
    ends = np.r_[starts[1:], len(phases)]
    fig = Figure(figsize=(10, 6.5), layout="constrained")
    for i, (ax, (key, title)) in enumerate(zip(fig.subplots(2, 2).flat, TRAINING_PANELS.items())):
        for split, colour in SPLIT_COLOURS.items():
            ax.plot(running_epoch, history[f"{split}_{key}"].to_numpy(), marker="o", markersize=4, color=colour,
                    label=split)
        if i == 0:
            ax.legend(title="split")
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, top + 0.12 * (top - bottom))  # headroom for the phase labels
        for start in starts[1:]:
            ax.axvline(start + 0.5, color="gray", linestyle="--", linewidth=1)
        for start, end in zip(starts, ends):
            ax.text(
                (start + end + 1) / 2, 0.98, f"phase {phases[start]}", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize="small", color="gray",
            )
        ax.set(title=title, xlabel="epoch (all phases)", ylabel=Y_LABELS[key])
    return fig


def phase_rows(history: pd.DataFrame | None, phase: int, start: Mapping[str, float] | None) -> pd.DataFrame:
    """The rows of `phase` indexed by epoch, with the start as epoch 0 when given."""
    columns = [f"{split}_{key}" for key in TRAINING_PANELS for split in ("train", "val")]
    rows = pd.DataFrame(columns=["epoch", *columns])
    if history is not None and not history.empty:
        missing = [c for c in ["phase", "epoch", *columns] if c not in history.columns]
        if missing:
            raise ValueError(f"history lacks the columns {missing} (docs/design.md lists them)")
        rows = history.loc[history["phase"] == phase, ["epoch", *columns]]
    if start is not None:
        rows = pd.concat([pd.DataFrame([{"epoch": 0, **{c: start[c] for c in columns}}]), rows])
    if rows.empty:
        raise ValueError(f"nothing to draw: the history has no epoch of phase {phase} and no start was given")
    return rows.astype(float).set_index("epoch")


def phase_curves(history: pd.DataFrame | None, phase: int, start: Mapping[str, float] | None = None) -> Figure:
    """Train and validation losses and accuracy over the epochs of one phase, in four panels.

    history: docs/design.md's columns (rows of other phases are ignored); start: the
    same train_/val_ values measured before the phase trained, drawn as epoch 0. With
    a start, the phase's rule of thumb (`RULES_OF_THUMB`) is drawn on its panel: the
    threshold on the validation curve and the first epoch that reaches it. The epoch
    whose weights the phase kept (`kept_epoch`: the lowest validation loss among the
    accurate enough) is marked on the total loss.
    """
    rows = phase_rows(history, phase, start)
    fig = Figure(figsize=(12, 2.9), layout="constrained")
    axes = dict(zip(TRAINING_PANELS, fig.subplots(1, len(TRAINING_PANELS))))
    for key, ax in axes.items():
        for split, colour in SPLIT_COLOURS.items():
            ax.plot(rows.index, rows[f"{split}_{key}"], marker="o", markersize=3, color=colour, label=split)
        ax.set(title=TRAINING_PANELS[key], xlabel=f"epoch of phase {phase}", ylabel=Y_LABELS[key])
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.ticklabel_format(axis="y", useOffset=False)
    if history is not None and (history["phase"] == phase).any():
        kept = int(kept_epoch(history, phase)["epoch"])
        axes["loss"].axvline(kept, color="gray", linestyle=":", label=f"kept weights: epoch {kept}")
    rule = RULES_OF_THUMB.get(phase)
    if rule is not None and start is not None:
        _draw_rule(axes[rule.column], rows[f"val_{rule.column}"], rule)
    for ax in axes.values():
        ax.legend(fontsize="x-small")
    return fig


def _draw_rule(ax: Axes, values: pd.Series, rule: RuleOfThumb) -> None:
    """The rule's threshold line and the first epoch that reaches it (nothing when the start is not positive)."""
    if not values.iloc[0] > 0:
        return
    threshold = rule.fraction * values.iloc[0]
    ax.axhline(threshold, color="green", linestyle="--", linewidth=1, label=f"{rule.fraction:.0%} of start")
    epoch = rule_of_thumb_epoch(values.to_numpy(), rule.fraction)
    if epoch is not None:
        ax.axvline(values.index[epoch], color="green", linewidth=1, label=f"rule of thumb: epoch {epoch}")
    ax.set_ylim(bottom=0)
