"""Which images of a split an evaluation looks at: a seeded sample stratified by label."""

from __future__ import annotations

import torch
from torch import Tensor


def stratified_sample(labels: Tensor, n: int, seed: int = 0) -> Tensor:
    """Sorted positions of `n` of `labels`, each class drawn in proportion to its share, at random (seeded).

    Shares are rounded by largest remainder, so the counts add up to `n`; all positions
    when `n` is at least the number of labels. An index written class by class
    (folder and VOC imports) would give one class only to "the first n rows".
    """
    if n < 0:
        raise ValueError(f"the sample size must be 0 or more, got {n}")
    if n >= len(labels):
        return torch.arange(len(labels))
    classes, counts = torch.unique(labels, return_counts=True)
    quotas = counts.double() * n / len(labels)
    taken = quotas.floor().long()
    remainders = (quotas - taken).tolist()
    for i in sorted(range(len(classes)), key=lambda i: (-remainders[i], i))[: n - int(taken.sum())]:
        taken[i] += 1
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label, k in zip(classes.tolist(), taken.tolist()):
        positions = (labels == label).nonzero().flatten()
        chosen.append(positions[torch.randperm(len(positions), generator=generator)[:k]])
    return torch.cat(chosen).sort().values
