"""A phase judged from its history: the epoch whose weights it kept, and one line when it ended at chance,
diverged or swung, with what to try.

Training keeps the epoch by the same rule (`xmllib.training.EarlyStopping`); the run folders
(`xmllib.runs`), the notebooks and the seeds benchmark print these verdicts.
"""

from __future__ import annotations

import math

import pandas as pd
import torch
from torch import Tensor

#: what to try when a phase ends at chance, per phase
AT_CHANCE_ADVICE = {
    1: "the classifier did not learn the task: give phase 1 more epochs, a lower --lr-clf, or check the labels",
    2: "the frozen classifier does not accept the explainer's new maps (`python -m xmllib diagnose` on the "
       "checkpoint says why); phase 3 trains the classifier again, or raise phase 2's alpha to keep it",
    3: "the joint training lost the task: lower the learning rates or raise phase 3's alpha",
}
#: a last epoch whose val loss exceeds the phase's best this many times counts as diverged
DIVERGED_FACTOR = 3.0
#: a phase whose best epoch is within this of the majority-class share ended at chance
CHANCE_MARGIN = 0.05
#: a phase whose val accuracy falls below this level after an epoch had reached it swung
SWING_LEVEL = 0.9


def majority_share(labels: Tensor) -> float:
    """The accuracy of always predicting the most frequent of these labels: chance, for `phase_verdict`."""
    return float(torch.bincount(labels).max()) / len(labels)


def kept_epoch(history: pd.DataFrame, phase: int) -> pd.Series:
    """The history row of the epoch whose weights `phase` kept, by `EarlyStopping`'s rule.

    The lowest finite val loss among the epochs whose val accuracy reaches the phase's
    floor (column `val_accuracy_floor`; 0 when absent); when none does, the most accurate
    epoch; the last, if no loss is finite.
    """
    rows = history[history["phase"] == phase]
    floor = rows["val_accuracy_floor"].fillna(0.0) if "val_accuracy_floor" in rows else 0.0
    eligible = rows[(rows["val_accuracy"] >= floor) & rows["val_loss"].map(math.isfinite)]
    if not eligible.empty:
        return eligible.loc[eligible["val_loss"].idxmin()]
    finite = rows[rows["val_loss"].map(math.isfinite)]
    return finite.loc[finite["val_accuracy"].idxmax()] if not finite.empty else rows.iloc[-1]


def phase_verdict(history: pd.DataFrame, phase: int, chance: float) -> str | None:
    """One line saying that `phase` ended at chance, diverged or swung (its val accuracy fell below `SWING_LEVEL`
    after an epoch had reached it), and what was kept or what to try; None when it did none of these.

    `chance`: the val accuracy of always predicting the majority class. The phase's
    weights are those of its kept epoch (`kept_epoch`), so that epoch is judged.
    """
    rows = history[history["phase"] == phase]
    if rows.empty:
        return None
    best, last = kept_epoch(history, phase), rows.iloc[-1]
    if best["val_accuracy"] <= chance + CHANCE_MARGIN:
        return (f"warning: phase {phase} ended at chance (val accuracy {best['val_accuracy']:.3f}, majority "
                f"class {chance:.3f}); {AT_CHANCE_ADVICE[phase]}")
    if not math.isfinite(last["val_loss"]) or last["val_loss"] > DIVERGED_FACTOR * best["val_loss"]:
        return (f"warning: phase {phase} diverged in its last epoch (val loss {last['val_loss']:.4g} against "
                f"{best['val_loss']:.4g} at epoch {int(best['epoch'])}, whose weights were kept); "
                "lower this phase's learning rates")
    swing = swing_of(rows)
    if swing is not None and swing[1]["val_accuracy"] < SWING_LEVEL:
        reached, low = swing
        return (f"warning: phase {phase} swung: val accuracy {low['val_accuracy']:.3f} at epoch {int(low['epoch'])} "
                f"after {reached['val_accuracy']:.3f} at epoch {int(reached['epoch'])}; "
                f"the weights of epoch {int(best['epoch'])} (val accuracy {best['val_accuracy']:.3f}) were kept")
    return None


def swing_of(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series] | None:
    """(the first epoch whose val accuracy reached `SWING_LEVEL`, the least accurate epoch from it on) of one
    phase's history rows; None when no epoch reached the level."""
    reached = rows[rows["val_accuracy"] >= SWING_LEVEL]
    if reached.empty:
        return None
    after = rows.loc[reached.index[0]:]
    return reached.iloc[0], after.loc[after["val_accuracy"].idxmin()]
