"""Figures of the data: one sample with its mask, and augmented copies of it."""

from __future__ import annotations

import copy

from matplotlib.figure import Figure

from xmllib.data import IndexDataset, make_augmentation
from xmllib.plots.drawing import PANEL_INCHES, show_binary, show_image


def _check_index(dataset: IndexDataset, index: int) -> None:
    if not 0 <= index < len(dataset):
        raise ValueError(f"index {index} is outside the split, which holds images 0 to {len(dataset) - 1}")


def sample_figure(dataset: IndexDataset, index: int, show_mask: bool = True) -> Figure:
    """Image `index` of a split with its label, the outline of its mask (when `show_mask`), and the mask."""
    _check_index(dataset, index)
    sample = dataset[index]
    fig = Figure(figsize=(2 * PANEL_INCHES + 0.4, PANEL_INCHES + 0.4), layout="constrained")
    image_ax, mask_ax = fig.subplots(1, 2)
    label = dataset.classes[int(sample["label"])]
    show_image(image_ax, sample["image"], sample["mask"] if show_mask else None, f"image {index}: {label}")
    show_binary(mask_ax, sample["mask"], "mask" if bool(sample["has_mask"]) else "no mask")
    return fig


def augmentation_figure(dataset: IndexDataset, index: int, p: float, seed: int, n: int = 5) -> Figure:
    """Image `index` and `n` augmentations of it (`make_augmentation(p, seed)`), above their masks.

    Geometric transforms move the mask with the image; photometric ones change the image only.
    """
    _check_index(dataset, index)
    if n < 1:
        raise ValueError(f"n must be >= 1 augmented copies, got {n}")
    augmented = copy.copy(dataset)
    augmented.augmentation = make_augmentation(p, seed)
    samples = [dataset[index]] + [augmented[index] for _ in range(n)]
    fig = Figure(figsize=(PANEL_INCHES * (n + 1), 2 * PANEL_INCHES + 0.3), layout="constrained")
    axes = fig.subplots(2, n + 1)
    for k, sample in enumerate(samples):
        show_image(axes[0, k], sample["image"], sample["mask"], "original" if k == 0 else f"augmented {k}")
        show_binary(axes[1, k], sample["mask"], "its mask")
    fig.suptitle(f"each transform applied with probability p = {p:g} (seed {seed})", fontsize="small")
    return fig
