"""Gate dropout (ours, not the paper's): phase 1 shows the classifier partial heatmaps.

In the paper, phase 1 trains the classifier behind the frozen explainer's first,
nearly uniform heatmap, so the classifier never sees the sparse maps phase 2 is
about to give it: a map that darkens, or keeps one object, moves it off everything
it learned (docs/recipe.md measures the decision flipping when the map's level moves
by 20%). Gate dropout makes such maps part of phase 1: with probability p an image's
heatmap is multiplied by a random coarse keep-mask and a random level, never
darkening the boxes of its mask. The classifier thus learns that the target alone is
enough and that a dark map is no evidence of the target, which is what a selective
explanation needs. Images whose mask is unknown keep their heatmap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

GRID = 8
LOWEST_LEVEL = 0.5
LOWEST_KEEP_RATE = 0.0


def drop_gate_regions(heatmap: Tensor, masks: Tensor, mask_valid: Tensor, probability: float,
                      generator: torch.Generator | None = None) -> Tensor:
    """The heatmaps B x 1 x H x W with random GRID x GRID cells darkened outside the masks.

    For each image, with `probability`: draw a keep rate r ~ U(LOWEST_KEEP_RATE, 1), keep each cell
    of a GRID x GRID grid with probability r, never darken a pixel inside the image's
    mask (B x 1 x H x W, 1 = the evidence), and scale the result by a level drawn from
    U(LOWEST_LEVEL, 1). Images whose `mask_valid` is False, and the others with
    probability 1 - p, keep their heatmap unchanged.
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"the gate dropout probability must lie in [0, 1], got {probability}")
    batch = heatmap.shape[0]
    device = heatmap.device

    def uniform(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator, device=device)

    rate = LOWEST_KEEP_RATE + (1 - LOWEST_KEEP_RATE) * uniform(batch, 1, 1, 1)
    cells = (uniform(batch, 1, GRID, GRID) < rate).to(heatmap.dtype)
    keep = torch.maximum(F.interpolate(cells, size=heatmap.shape[-2:], mode="nearest"), masks.to(heatmap.dtype))
    level = LOWEST_LEVEL + (1 - LOWEST_LEVEL) * uniform(batch, 1, 1, 1)
    dropped = heatmap * keep * level
    chosen = (uniform(batch) < probability) & mask_valid.bool().to(device)
    return torch.where(chosen.view(batch, 1, 1, 1), dropped, heatmap)
