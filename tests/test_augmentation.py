"""The original's augmentation pipeline: masks move with the image and stay binary."""

import numpy as np
import pytest

from xmllib.data import make_augmentation


def _corner_box(size=32):
    mask = np.zeros((size, size), np.uint8)
    mask[2:14, 3:12] = 1
    return mask


@pytest.mark.parametrize("seed", range(12))
def test_masks_stay_aligned_with_the_image(seed):
    """The image is the mask itself (white box on black): whatever moved, its box must still be under the mask.

    A geometric step applied to the image but not to the mask (or the reverse) would move
    the bright box away from the mask, so the mean inside would not beat the mean outside.
    """
    mask = _corner_box()
    image = np.repeat(mask[..., None] * 255, 3, axis=2).astype(np.uint8)
    out = make_augmentation(1.0, seed=seed)(image=image, masks=[mask])
    moved, grey = out["masks"][0], out["image"].mean(axis=2)
    assert moved.any() and (~moved.astype(bool)).any()
    assert grey[moved == 1].mean() > grey[moved == 0].mean() + 100


@pytest.mark.parametrize("seed", range(12))
def test_masks_stay_binary_and_nested(seed):
    """Every step moves both masks the same way with nearest neighbours: values stay 0/1, inner stays inside outer."""
    outer = _corner_box()
    inner = np.zeros_like(outer)
    inner[5:11, 5:10] = 1
    image = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    moved_outer, moved_inner = make_augmentation(1.0, seed=seed)(image=image, masks=[outer, inner])["masks"]
    assert set(np.unique(moved_outer)) <= {0, 1} and set(np.unique(moved_inner)) <= {0, 1}
    assert moved_inner.any() and not (moved_inner.astype(bool) & (moved_outer == 0)).any()


def test_every_step_of_the_original_is_there():
    names = [type(t).__name__ for t in make_augmentation(0.3).transforms]
    inner = [type(t).__name__ for step in make_augmentation(0.3).transforms for t in getattr(step, "transforms", [])]
    for name in ("RandomRotate90", "HorizontalFlip", "VerticalFlip", "Transpose", "GaussNoise", "Affine",
                 "HueSaturationValue"):
        assert name in names
    for name in ("MotionBlur", "MedianBlur", "Blur", "OpticalDistortion", "GridDistortion", "ElasticTransform",
                 "CLAHE", "Sharpen", "Emboss", "RandomBrightnessContrast"):
        assert name in inner
    assert {t.p for t in make_augmentation(0.3).transforms} == {0.3}
