"""The inputs the checks try: seeded random heatmaps and masks of rectangular boxes.

Every input is drawn from a generator seeded by the caller, so a check shows the same
values each time it runs and a student can reproduce a difference.
"""

from __future__ import annotations

import torch
from torch import Tensor


def uniform(seed: int, *shape: int, low: float = 0.0, high: float = 1.0) -> Tensor:
    """Values drawn uniformly from [low, high), seeded: heatmaps, images, curves."""
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(shape, generator=generator)


def box_masks(seed: int, *shape: int) -> Tensor:
    """Binary masks (shape ... x H x W), each one random box covering between a quarter and half of each side.

    The boxes never cover the whole image, so every mask has pixels outside it.
    """
    generator = torch.Generator().manual_seed(seed)
    *batch, height, width = shape
    masks = torch.zeros(shape).view(-1, height, width)
    for mask in masks:
        box_height, box_width = (int(torch.randint(max(1, side // 4), side // 2 + 1, (1,), generator=generator))
                                 for side in (height, width))
        top = int(torch.randint(0, height - box_height + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - box_width + 1, (1,), generator=generator))
        mask[top:top + box_height, left:left + box_width] = 1.0
    return masks.view(shape)


def centred_boxes(*shape: int) -> Tensor:
    """Binary masks (shape ... x H x W) of the same box: the middle half of each side."""
    masks = torch.zeros(shape)
    height, width = shape[-2:]
    masks[..., height // 4:height // 4 + height // 2, width // 4:width // 4 + width // 2] = 1.0
    return masks
