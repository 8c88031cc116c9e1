"""Square patches of an image: which sizes fit, and in which order to perturb them.

A MoRF curve (method.md section 4) cuts an image and its heatmap into
non-overlapping p x p patches and perturbs them most relevant first. Patches are
numbered in row-major order; their relevance is the heatmap's mean over the patch.
"""

import math
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import Tensor

PAPER_IMAGE_SIZE = 224
PAPER_PATCH_SIZES = (4, 8, 16, 32)


def check_patch_size(patch_size: int, height: int, width: int) -> None:
    """Refuse a patch size that does not tile a height x width image exactly."""
    if not isinstance(patch_size, Integral) or patch_size < 1 or height % patch_size or width % patch_size:
        divisors = [d for d in range(1, math.gcd(height, width) + 1) if math.gcd(height, width) % d == 0]
        raise ValueError(
            f"patch size {patch_size!r} does not tile {height} x {width} images into whole patches "
            f"(images are not padded); use one of {divisors}"
        )


def n_patches(patch_size: int, height: int, width: int) -> int:
    """Number of p x p patches in a height x width image."""
    check_patch_size(patch_size, height, width)
    return int((height // patch_size) * (width // patch_size))


def default_patch_sizes(height: int, width: int) -> tuple[int, ...]:
    """The paper's patch sizes (4, 8, 16, 32 px at 224 x 224) scaled to keep the number of patches.

    Rule: the paper's size p becomes p * sqrt(height * width) / 224 (the size that
    keeps 224^2 / p^2 patches), rounded to the nearest divisor of both sides in
    log scale (ties go to the smaller divisor); repeated sizes are dropped.
    At 224 px: 4, 8, 16, 32; at 128 px: 2, 4, 8, 16; at 64 px: 1, 2, 4, 8; at 32 px: 1, 2, 4.
    """
    side = math.gcd(height, width)
    divisors = [d for d in range(1, side + 1) if side % d == 0]
    scale = math.sqrt(height * width) / PAPER_IMAGE_SIZE
    sizes = [min(divisors, key=lambda d: (abs(math.log(d / (p * scale))), d)) for p in PAPER_PATCH_SIZES]
    return tuple(dict.fromkeys(sizes))


def patch_order(heatmaps: Tensor, patch_size: int) -> Tensor:
    """Patch indices (row-major) of each image, most relevant first: N x n_patches.

    Relevance of a patch is the heatmap's mean over it, computed in float64 on the CPU
    (exact for the sums of a float32 patch, so equal patches tie exactly rather than by
    rounding). The sort is stable: patches of equal relevance keep their row-major order.
    """
    means = F.avg_pool2d(heatmaps.detach().to("cpu", torch.float64), patch_size).flatten(1)
    return means.sort(dim=1, descending=True, stable=True).indices.to(heatmaps.device)


def pixel_ranks(heatmaps: Tensor, patch_size: int) -> Tensor:
    """Rank (0 = most relevant) of the patch each pixel belongs to: N x 1 x H x W, int32.

    Perturbing the k most relevant patches is then perturbing the pixels of rank < k.
    """
    n, _, height, width = heatmaps.shape
    order = patch_order(heatmaps, patch_size)
    ranks = torch.empty_like(order, dtype=torch.int32)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device, dtype=torch.int32).expand_as(order))
    grid = ranks.view(n, 1, height // patch_size, width // patch_size)
    return grid.repeat_interleave(patch_size, dim=2).repeat_interleave(patch_size, dim=3)
