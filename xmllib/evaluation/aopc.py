"""MoRF curves and the AOPC, batched (method.md section 4).

Reference: Samek et al., "Evaluating the visualization of what a deep neural network
has learned", IEEE TNNLS 28 (2017); as used by Rio-Torto et al. (2020).

For an image x and heatmap h cut into p x p patches ranked by mean relevance
(descending, stable), x^(k) is x with its k most relevant patches perturbed
(x^(0) = x) and f(x^(k)) the softmax probability, under the full model (explainer
and classifier run again on the perturbed image), of the class predicted for x^(0).
The MoRF curve of x is f(x^(0)), ..., f(x^(L)); over N images

    AOPC(L) = 1 / (L + 1) * mean_images sum_{k=0..L} (f(x^(0)) - f(x^(k))).

Higher is better: the faster the probability falls as the patches the heatmap calls
relevant are removed, the more faithful the heatmap. A random patch order
(`random_order_heatmaps`) gives the reference curve.

Cost: N * (L + 1) forward passes. The (image, step) pairs are built and forwarded
`batch_size` at a time, whatever mixture of images and steps a chunk holds, so the
forward passes run at the model's batched throughput and memory stays bounded.
"""

import warnings
from collections.abc import Iterable, Mapping
from numbers import Integral

import pandas as pd
import torch
from torch import Tensor, nn

from xmllib.evaluation.forward import class_probabilities, logits_of, model_device
from xmllib.evaluation.patches import check_patch_size, n_patches, pixel_ranks
from xmllib.evaluation.perturbations import (
    check_perturbation,
    perturb_most_relevant,
    perturbation_fill,
)
from xmllib.models.modes import eval_mode

MAX_DEFAULT_STEPS = 100
AOPC_COLUMNS = ["method", "perturbation", "patch_size", "step", "aopc"]


def check_images_and_heatmaps(images: Tensor, heatmaps: Tensor) -> Tensor:
    """Refuse mismatched inputs; return the heatmaps as N x 1 x H x W (N x H x W is accepted)."""
    if images.ndim != 4 or len(images) == 0 or not images.is_floating_point():
        raise ValueError(
            f"images must be a non-empty floating-point N x C x H x W tensor in [0, 1], "
            f"got {images.dtype} of shape {tuple(images.shape)}"
        )
    if heatmaps.ndim == 3:
        heatmaps = heatmaps.unsqueeze(1)
    expected = (len(images), 1, *images.shape[2:])
    if tuple(heatmaps.shape) != expected:
        raise ValueError(
            f"heatmaps must have shape {expected} (N x 1 x H x W) for images of shape "
            f"{tuple(images.shape)}, got {tuple(heatmaps.shape)}"
        )
    return heatmaps.float()


def check_steps(steps: int | None) -> None:
    """Refuse a number of steps that is neither None (the default) nor a positive integer."""
    if steps is not None and (not isinstance(steps, Integral) or steps < 1):
        raise ValueError(f"steps must be a positive integer (or None for min(100, patches)), got {steps!r}")


def resolve_steps(steps: int | None, patches: int) -> int:
    """The number of perturbation steps L: min(100, patches) by default, clipped (with a warning) to `patches`."""
    check_steps(steps)
    if steps is None:
        return min(MAX_DEFAULT_STEPS, patches)
    if steps > patches:
        warnings.warn(f"steps={steps} is more than the {patches} patches of an image; using {patches}", stacklevel=3)
        return patches
    return int(steps)


def random_order_heatmaps(images: Tensor, seed: int = 0) -> Tensor:
    """Heatmaps whose patch ranking is a uniformly random order, for any patch size: N x 1 x H x W.

    Each pixel is drawn from U(0, 1) with a generator seeded with `seed`; the patch
    means are then independent and identically distributed, so every order of the
    patches is equally likely (and ties have probability 0).
    """
    generator = torch.Generator().manual_seed(seed)
    shape = (len(images), 1, *images.shape[2:])
    return torch.rand(shape, generator=generator).to(images.device)


@torch.no_grad()
def morf_curve(
    model: nn.Module,
    images: Tensor,
    heatmaps: Tensor,
    patch_size: int,
    perturbation: str,
    steps: int | None = None,
    *,
    batch_size: int = 64,
    seed: int = 0,
    blur_sigma: float | None = None,
) -> Tensor:
    """MoRF curves of `images` (N x C x H x W in [0, 1]) under `heatmaps` (N x 1 x H x W): N x (L + 1), on the CPU.

    Entry [i, k] is f(x_i^(k)): the probability of the class predicted on the
    unperturbed image i after its k most relevant p x p patches are perturbed
    (`perturbation`, see `xmllib.evaluation.perturbations`; `seed` seeds the uniform
    noise, `blur_sigma` sets the blur). L = `steps`, default min(100, patches).
    The model runs on its own device, in eval mode (its mode is restored afterwards),
    `batch_size` images per forward pass.
    """
    heatmaps = check_images_and_heatmaps(images, heatmaps)
    check_perturbation(perturbation)
    if not isinstance(batch_size, Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    n, _, height, width = images.shape
    steps = resolve_steps(steps, n_patches(patch_size, height, width))
    device = model_device(model)
    images = images.to(device)
    ranks = pixel_ranks(heatmaps.to(device), patch_size)
    fill = perturbation_fill(images, perturbation, seed=seed, blur_sigma=blur_sigma)
    with eval_mode(model):
        unperturbed = class_probabilities(model, images, batch_size)
        predicted = unperturbed.argmax(dim=1)
        image_of = torch.arange(n, device=device).repeat_interleave(steps)
        step_of = torch.arange(1, steps + 1, device=device).repeat(n)
        perturbed = torch.empty(n * steps, device=device)
        for start in range(0, n * steps, batch_size):
            i, k = image_of[start : start + batch_size], step_of[start : start + batch_size]
            x = perturb_most_relevant(images[i], fill[i], ranks[i], k)
            probabilities = logits_of(model(x), len(x)).softmax(dim=1)
            perturbed[start : start + len(x)] = probabilities.gather(1, predicted[i, None]).squeeze(1)
    first = unperturbed.gather(1, predicted[:, None])
    return torch.cat([first, perturbed.view(n, steps)], dim=1).cpu()


def aopc(curves: Tensor) -> Tensor:
    """AOPC(L) for L = 0..steps from MoRF curves (N x (steps + 1)): a tensor of steps + 1 values.

    AOPC(L) = 1 / (L + 1) * mean_i sum_{k=0..L} (curves[i, 0] - curves[i, k]).
    """
    if curves.ndim != 2 or curves.shape[0] == 0 or curves.shape[1] == 0:
        raise ValueError(f"curves must be N x (steps + 1) with N >= 1, got shape {tuple(curves.shape)}")
    drops = (curves[:, :1] - curves).mean(dim=0)
    return drops.cumsum(dim=0) / torch.arange(1, curves.shape[1] + 1, dtype=curves.dtype)


def aopc_table(
    model: nn.Module,
    images: Tensor,
    heatmaps_by_method: Mapping[str, Tensor],
    patch_sizes: Iterable[int],
    perturbations: Iterable[str],
    steps: int | None = None,
    *,
    batch_size: int = 64,
    seed: int = 0,
    blur_sigma: float | None = None,
) -> pd.DataFrame:
    """AOPC(L), L = 0..steps, of every method, perturbation and patch size: columns AOPC_COLUMNS.

    Each combination is one `morf_curve` over all images (same arguments). Names and
    patch sizes are all checked before the first curve is computed.
    """
    perturbations, patch_sizes = tuple(perturbations), tuple(patch_sizes)
    for perturbation in perturbations:
        check_perturbation(perturbation)
    for patch_size in patch_sizes:
        check_patch_size(patch_size, *images.shape[-2:])
    rows = []
    for method, heatmaps in heatmaps_by_method.items():
        for perturbation in perturbations:
            for patch_size in patch_sizes:
                curves = morf_curve(model, images, heatmaps, patch_size, perturbation, steps,
                                    batch_size=batch_size, seed=seed, blur_sigma=blur_sigma)
                rows += [(method, perturbation, patch_size, step, float(value))
                         for step, value in enumerate(aopc(curves))]
    return pd.DataFrame(rows, columns=AOPC_COLUMNS)
