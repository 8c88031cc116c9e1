"""Class weights for the classification loss: inverse class frequency in the train split, or given.

The same weights go into the training and the validation losses (the original
weighted the training loss only, so its validation loss, which drives early
stopping and the learning-rate schedule, measured another objective).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from xmllib.config import INVERSE_FREQUENCY, ConfigError


def inverse_frequency_weights(labels: Tensor, num_classes: int) -> Tensor:
    """w_c = N / (K n_c): N labels, K classes, n_c labels of class c (scikit-learn's "balanced").

    Every class then carries the same total weight, N / K, and a balanced split gets
    weights 1. Float32, one weight per class; a class without labels is an error.
    """
    counts = torch.bincount(labels, minlength=num_classes)
    if len(counts) != num_classes or (counts == 0).any():
        raise ValueError(
            f"inverse-frequency weights need labels of every class in [0, {num_classes}); "
            f"counts per class: {counts.tolist()}"
        )
    return (len(labels) / (num_classes * counts.double())).float()


def resolve_class_weights(setting: Sequence[float] | str | None, train_labels: Tensor,
                          class_names: Sequence[str]) -> Tensor | None:
    """The weight tensor a configuration's class_weights asks for, in class order; None for no weights.

    setting: None, "inverse" (from train_labels), or one weight per class.
    """
    if setting is None:
        return None
    if setting == INVERSE_FREQUENCY:
        return inverse_frequency_weights(train_labels, len(class_names))
    if len(setting) != len(class_names):
        raise ConfigError(
            f"class_weights has {len(setting)} values but there are {len(class_names)} classes "
            f"{list(class_names)}; give one weight per class, in this order, or 'inverse'"
        )
    return torch.tensor(setting, dtype=torch.float32)


def class_weight_table(weights: Tensor | None, class_names: Sequence[str]) -> dict[str, float]:
    """The weight of each class by name (1.0 each when there are no weights), to print and save."""
    values = [1.0] * len(class_names) if weights is None else weights.tolist()
    return dict(zip(class_names, values))
