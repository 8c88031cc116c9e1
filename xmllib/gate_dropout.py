"""Gate dropout (ours, not the paper's): phase 1 shows the classifier maps of varied shape and level.

In the paper, phase 1 trains the classifier behind the frozen explainer's first,
nearly even heatmap, so it never sees the maps phase 2 is about to give it: maps that
darken most of the image and light the evidence brighter than before. Behind them the
phase-1 classifier loses its decision (docs/recipe.md measures it). Gate dropout makes
such maps part of phase 1: with probability p an image's heatmap gets random coarse
cells darkened, never inside the boxes of its mask, and is dimmed or brightened by a
random factor, up to white. The classifier learns that the target alone is enough and
that a dark region is no evidence either way. Images whose mask is unknown keep their
heatmap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

GRID = 8
#: the smallest factor a dropped map is scaled by; the largest brings its brightest pixel to 1
LOWEST_LEVEL = 0.5


def drop_gate_regions(heatmap: Tensor, masks: Tensor, mask_valid: Tensor, probability: float,
                      generator: torch.Generator | None = None) -> Tensor:
    """The heatmaps B x 1 x H x W, for a random share `probability` of the images with a known mask, with random
    GRID x GRID cells darkened outside the mask (B x 1 x H x W, 1 = the evidence) and a random level.

    For each chosen image: a keep rate r ~ U(0, 1), each cell kept with probability r,
    every pixel of the mask kept, and the result scaled by a factor drawn from
    U(LOWEST_LEVEL, 1 / the map's maximum), so that the map is dimmed to half or
    brightened up to white. The other images keep their heatmap unchanged.
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"the gate dropout probability must lie in [0, 1], got {probability}")
    batch, device = heatmap.shape[0], heatmap.device

    def uniform(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator, device=device)

    rate = uniform(batch, 1, 1, 1)
    cells = (uniform(batch, 1, GRID, GRID) < rate).to(heatmap.dtype)
    keep = torch.maximum(F.interpolate(cells, size=heatmap.shape[-2:], mode="nearest"), masks.to(heatmap.dtype))
    highest = 1.0 / heatmap.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    factor = LOWEST_LEVEL + (highest - LOWEST_LEVEL).clamp_min(0.0) * uniform(batch, 1, 1, 1)
    dropped = (heatmap * keep * factor).clamp(max=1.0)
    chosen = (uniform(batch) < probability) & mask_valid.bool().to(device)
    return torch.where(chosen.view(batch, 1, 1, 1), dropped, heatmap)
