"""A phase judged from its history: at chance, diverged, swung, or nothing to say."""

import pandas as pd

from xmllib.evaluation.verdicts import phase_verdict


def _history(phase, val_loss, val_accuracy):
    return pd.DataFrame({"phase": phase, "epoch": range(1, len(val_loss) + 1), "val_loss": val_loss,
                         "val_accuracy": val_accuracy})


def test_phase_verdict_names_a_phase_at_chance_a_divergence_or_nothing():
    history = pd.concat([_history(1, [0.7, 0.69, 0.69], [0.50, 0.52, 0.51]),
                         _history(2, [0.3, 0.2, 0.9], [0.90, 0.95, 0.60]),
                         _history(3, [0.3, 0.2, 0.25], [0.90, 0.95, 0.94])])
    first = phase_verdict(history, 1, chance=0.5)
    assert first.startswith("warning: phase 1 ended at chance (val accuracy 0.520, majority class 0.500)")
    assert "more epochs" in first
    second = phase_verdict(history, 2, chance=0.5)
    assert second.startswith("warning: phase 2 diverged in its last epoch (val loss 0.9 against 0.2 at epoch 2")
    assert phase_verdict(history, 3, chance=0.5) is None
    assert phase_verdict(history, 3, chance=0.92) is not None
    swung = phase_verdict(_history(3, [0.3, 0.6, 0.2, 0.25], [0.92, 0.51, 0.97, 0.95]), 3, chance=0.5)
    assert swung == ("warning: phase 3 swung: val accuracy 0.510 at epoch 2 after 0.920 at epoch 1; the weights "
                     "of epoch 3 (val accuracy 0.970) were kept")
    assert phase_verdict(_history(3, [0.3, 0.6, 0.2], [0.52, 0.91, 0.97]), 3, chance=0.5) is None
    diverged = phase_verdict(_history(1, [0.4, float("nan")], [0.9, 0.5]), 1, 0.5)
    assert diverged.startswith("warning: phase 1 diverged in its last epoch (val loss nan against 0.4")
