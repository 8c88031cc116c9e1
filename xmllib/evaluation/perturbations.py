"""Perturbations for MoRF curves: the values a perturbed patch's pixels take.

Everything is in pixel space, images in [0, 1] (the models normalise internally),
so the perturbations are applied before normalisation as the paper does.
A perturbation is described by its *fill*: an image holding, for every pixel, the
value it takes once its patch is perturbed. Perturbing patches is then one
`torch.where(perturbed, fill, image)`, for any number of patches and images at once,
and perturbation is cumulative by construction (a perturbed patch keeps its value).

- ``black``: 0; ``white``: 1; ``gray``: 0.5.
- ``uniform``: per-pixel noise U(0, 1), drawn once per image set from a generator
  seeded with `seed` (on the CPU, so the same seed gives the same noise on any device).
- ``blur``: the image blurred with a Gaussian of standard deviation `blur_sigma`
  pixels (default `default_blur_sigma`: 4 px at 224 px, scaled with the image side),
  kernel size 2 * ceil(3 sigma) + 1, reflected at the image border. A perturbed
  patch shows the blurred pixels of its own region: this is the blur of the patch
  with its surroundings as context, which stays a real perturbation for 1 px
  patches (blurring a 1 px patch on its own would leave it unchanged).

torchvision's blur is imported when a blur is asked for: its import takes a second or more.
"""

import math

import torch
from torch import Tensor

PERTURBATIONS = ("black", "blur", "gray", "uniform", "white")
CONSTANT_FILLS = {"black": 0.0, "gray": 0.5, "white": 1.0}


def check_perturbation(perturbation: str) -> None:
    """Refuse an unknown perturbation name."""
    if perturbation not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {perturbation!r}; choose from {list(PERTURBATIONS)}")


def default_blur_sigma(height: int, width: int) -> float:
    """Standard deviation in pixels of the `blur` perturbation: 4 px at 224 x 224, proportional to the side."""
    return 4.0 * math.sqrt(height * width) / 224


def gaussian_blurred(images: Tensor, sigma: float) -> Tensor:
    """`images` (N x C x H x W) blurred by a Gaussian of `sigma` pixels.

    Kernel size 2 * ceil(3 sigma) + 1, capped at 2 * side - 1 so that the reflected
    border fits the image.
    """
    from torchvision.transforms.functional import gaussian_blur

    if sigma <= 0:
        raise ValueError(f"blur_sigma must be > 0 pixels, got {sigma}")
    radius = min(math.ceil(3 * sigma), min(images.shape[-2:]) - 1)
    return gaussian_blur(images, kernel_size=2 * radius + 1, sigma=sigma)


def perturbation_fill(images: Tensor, perturbation: str, *, seed: int = 0, blur_sigma: float | None = None) -> Tensor:
    """The fill of `perturbation` for `images` (N x C x H x W in [0, 1]): same shape, device and dtype."""
    check_perturbation(perturbation)
    if perturbation in CONSTANT_FILLS:
        return torch.full_like(images, CONSTANT_FILLS[perturbation])
    if perturbation == "uniform":
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(images.shape, generator=generator, dtype=images.dtype).to(images.device)
    sigma = default_blur_sigma(*images.shape[-2:]) if blur_sigma is None else blur_sigma
    return gaussian_blurred(images, sigma)


def perturb_most_relevant(images: Tensor, fill: Tensor, ranks: Tensor, k: Tensor) -> Tensor:
    """`images` with the pixels of their `k` most relevant patches replaced by `fill`.

    `ranks` (N x 1 x H x W) is the rank of each pixel's patch (see `patches.pixel_ranks`),
    `k` (N) how many patches to perturb in each image: one call perturbs any mixture
    of images and steps.
    """
    return torch.where(ranks < k.view(-1, 1, 1, 1), fill, images)
