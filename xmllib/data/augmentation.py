"""Training-time augmentation of an image together with its masks (albumentations 2)."""

from __future__ import annotations

import albumentations as A
import cv2


def make_augmentation(p: float, seed: int | None = None) -> A.Compose | None:
    """Augmentation in which every transform is applied with probability p; None when p == 0.

    Call it as ``aug(image=uint8 H x W x 3, masks=[H x W, ...])``: geometric
    transforms move the masks with the image, with nearest-neighbour
    interpolation and zero fill, so binary masks stay binary; photometric
    transforms touch the image only.

    Kept from the original's list: horizontal flip, shift-scale-rotate (as
    ``Affine``), Gaussian noise, blur, brightness-contrast, hue-saturation.
    Left out: vertical flip, rotate 90 and transpose (natural images have an
    up), elastic/grid/optical distortions (they bend the straight edges that
    tell one polygon from another), CLAHE (on black images with thin outlines
    it mostly amplifies noise). The original's ``IAA*`` transforms no longer exist.

    seed makes the sequence of augmentations reproducible (albumentations keeps
    its own random state, independent of numpy's and torch's).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"augmentation probability must be in [0, 1], got {p}")
    if p == 0.0:
        return None
    return A.Compose(
        [
            A.HorizontalFlip(p=p),
            A.Affine(
                scale=(0.9, 1.1),
                translate_percent=(-0.0625, 0.0625),
                rotate=(-45, 45),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
                p=p,
            ),
            A.GaussNoise(std_range=(0.01, 0.05), p=p),
            A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.1, 1.0), p=p),
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=p),
            A.HueSaturationValue(p=p),
        ],
        seed=seed,
    )
