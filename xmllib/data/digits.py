"""Real handwriting, offline: "is there a 3?" on scikit-learn's bundled digits, in the image-folder layout.

scikit-learn ships 1797 handwritten digits (8 x 8 grey levels, UCI "optdigits") with
the package, so this dataset needs no download. Each image is a light, noisy canvas
with one to three dark digits at random places and sizes; the label says whether the
target digit is among them, and the mask covers the box of the target digit (one per positive image). The
digits are split into disjoint pools per split, so no handwritten sample is seen in
two splits. It is a dataset of another kind than the polygons (grey-scale ink on
paper, few hundred images), to check that a recipe holds beyond what it was tuned on.

Layout: ROOT/<split>/<label>/<i>.png and <i>_mask.png, for `folder_index`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .index import SPLITS

CANVAS = 215.0
CANVAS_NOISE = 18.0
INK = 40.0
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def write_digits_folder(root: str | Path, *, target: int = 3, counts: tuple[int, int, int] = (600, 150, 300),
                        image_size: int = 64, digits_per_image: tuple[int, int] = (1, 3), seed: int = 0) -> Path:
    """Write `counts` (train, val, test) images, half of them holding the digit `target`; returns root.

    Digit sizes are drawn between a quarter and ~0.45 of `image_size`; digits do not overlap.
    """
    from sklearn.datasets import load_digits

    if not 0 <= target <= 9 or image_size < 32 or min(counts) < 1:
        raise ValueError(f"need a target digit 0-9, image_size >= 32 and counts >= 1; got {target}, "
                         f"{image_size}, {counts}")
    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    pools = np.array_split(order, [len(order) * 3 // 5, len(order) * 4 // 5])
    name = DIGIT_NAMES[target]
    root = Path(root)
    for split, pool, count in zip(SPLITS, pools, counts):
        targets = pool[digits.target[pool] == target]
        others = pool[digits.target[pool] != target]
        for i in range(count):
            positive = i % 2 == 0
            label = name if positive else f"no_{name}"
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            image, mask = _compose(digits.images, targets, others, positive, image_size, digits_per_image, rng)
            Image.fromarray(image).save(folder / f"{i:04d}.png")
            Image.fromarray(mask).save(folder / f"{i:04d}_mask.png")
    return root


def _compose(images: np.ndarray, targets: np.ndarray, others: np.ndarray, positive: bool, size: int,
             per_image: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One RGB canvas with its digits and the box mask of its target digits."""
    canvas = np.clip(rng.normal(CANVAS, CANVAS_NOISE, (size, size)), 0, 255)
    mask = np.zeros((size, size), np.uint8)
    count = int(rng.integers(per_image[0], per_image[1] + 1))
    chosen = [rng.choice(targets)] if positive else []
    chosen += list(rng.choice(others, size=count - len(chosen))) if count > len(chosen) else []
    taken = np.zeros((size, size), bool)
    for n, index in enumerate(chosen):
        side = int(rng.integers(size // 4, int(size * 0.45) + 1))
        place = _free_place(taken, side, rng)
        if place is None:
            continue
        y, x = place
        glyph = np.asarray(Image.fromarray((images[index] / 16 * 255).astype(np.uint8)).resize(
            (side, side), Image.BILINEAR), dtype=float) / 255
        region = canvas[y:y + side, x:x + side]
        canvas[y:y + side, x:x + side] = region * (1 - glyph) + INK * glyph
        taken[y:y + side, x:x + side] = True
        if positive and n == 0:
            mask[y:y + side, x:x + side] = 255
    grey = np.rint(canvas).astype(np.uint8)
    return np.stack([grey] * 3, axis=-1), mask


def _free_place(taken: np.ndarray, side: int, rng: np.random.Generator, tries: int = 50) -> tuple[int, int] | None:
    """A random top-left corner where a side x side square overlaps nothing taken, or None."""
    limit = taken.shape[0] - side
    for _ in range(tries):
        y, x = (int(v) for v in rng.integers(0, limit + 1, size=2))
        if not taken[y:y + side, x:x + side].any():
            return y, x
    return None
