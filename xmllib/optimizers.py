"""The optimisers a run can use, by name: the one place the list and their settings live."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

OPTIMIZERS = ("sgd", "adam", "adadelta")


def build_optimizer(name: str, groups: Sequence[dict[str, Any]]) -> torch.optim.Optimizer:
    """The optimiser `name` over parameter `groups` (each with its own lr): sgd has momentum 0.9, weight decay 1e-4."""
    if name == "sgd":
        return torch.optim.SGD(groups, momentum=0.9, weight_decay=1e-4)
    if name == "adam":
        return torch.optim.Adam(groups)
    if name == "adadelta":
        return torch.optim.Adadelta(groups)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
