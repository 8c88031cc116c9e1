"""Training-time augmentation of an image together with its masks (albumentations 2).

albumentations (and OpenCV) are imported when a pipeline is made: their import takes
half a second, which a run without augmentation (the tutorial preset) does not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import albumentations as A


def make_augmentation(p: float, seed: int | None = None) -> A.Compose | None:
    """The original's augmentation pipeline, each step applied with probability p; None when p == 0.

    Call it as ``aug(image=uint8 H x W x 3, masks=[H x W, ...])``: geometric
    transforms move the masks with the image, with nearest-neighbour
    interpolation and zero fill, so binary masks stay binary; photometric
    transforms touch the image only.

    The steps of the original's ``strong_aug``, in its order, rebuilt with current
    transforms (its ``IAA*`` transforms no longer exist): rotate 90, flips
    (horizontal, vertical), transpose, Gaussian noise (it also held
    ``IAAAdditiveGaussianNoise``, the same thing), one of motion / median / box blur,
    shift-scale-rotate (as ``Affine``), one of optical / grid / elastic distortion
    (``ElasticTransform`` stands in for ``IAAPiecewiseAffine``, which albumentations
    itself calls very slow), one of CLAHE / sharpen / emboss / brightness-contrast,
    and hue-saturation. The original wrapped fixed per-step probabilities in one
    overall probability; here p is the one knob, the chance of each step.

    seed makes the sequence of augmentations reproducible (albumentations keeps
    its own random state, independent of numpy's and torch's).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"augmentation probability must be in [0, 1], got {p}")
    if p == 0.0:
        return None
    import albumentations as A
    import cv2

    # geometric transforms move masks with nearest neighbours and fill with 0, so binary masks stay binary
    mask_safe = {"mask_interpolation": cv2.INTER_NEAREST, "border_mode": cv2.BORDER_CONSTANT, "fill": 0, "fill_mask": 0}
    return A.Compose(
        [
            A.RandomRotate90(p=p),
            A.HorizontalFlip(p=p),
            A.VerticalFlip(p=p),
            A.Transpose(p=p),
            A.GaussNoise(std_range=(0.01, 0.05), p=p),
            A.OneOf([A.MotionBlur(blur_limit=(3, 7)), A.MedianBlur(blur_limit=3), A.Blur(blur_limit=3)], p=p),
            A.Affine(scale=(0.8, 1.2), translate_percent=(-0.0625, 0.0625), rotate=(-45, 45),
                     interpolation=cv2.INTER_LINEAR, **mask_safe, p=p),
            A.OneOf([A.OpticalDistortion(**mask_safe), A.GridDistortion(**mask_safe),
                     A.ElasticTransform(alpha=50, sigma=5, **mask_safe)], p=p),
            A.OneOf([A.CLAHE(clip_limit=2), A.Sharpen(), A.Emboss(), A.RandomBrightnessContrast()], p=p),
            A.HueSaturationValue(p=p),
        ],
        seed=seed,
    )
