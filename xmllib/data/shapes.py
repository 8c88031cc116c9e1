"""A toy dataset in the image-folder layout: circles, squares and stripes, each with its box mask.

It stands in for "your own images" where a notebook or a test needs a folder it can
write anywhere in a second: ``ROOT/<shape>/<i>.png`` and ``ROOT/<shape>/<i>_mask.png``,
the mask covering the bounding box of the shape, drawn on a noisy background.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "stripes")
NOISE_STD = 20.0


def write_shapes_folder(root: str | Path, *, n_per_class: int = 12, image_size: int = 32, seed: int = 0) -> Path:
    """Write n_per_class images of each of SHAPES (with masks) under root; returns root.

    Each image: grey Gaussian noise, and one shape of a random bright colour whose side
    is a quarter to a half of image_size, at a random position. Same seed, same files.
    """
    if n_per_class < 1 or image_size < 8:
        raise ValueError(f"need n_per_class >= 1 and image_size >= 8, got {n_per_class} and {image_size}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    for shape in SHAPES:
        (root / shape).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            image, mask = draw_shape(shape, image_size, rng)
            Image.fromarray(image).save(root / shape / f"{i:03d}.png")
            Image.fromarray(mask).save(root / shape / f"{i:03d}_mask.png")
    return root


def draw_shape(shape: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One uint8 size x size x 3 image of shape and its uint8 size x size box mask (0 and 255)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {SHAPES}")
    side = int(rng.integers(size // 4, size // 2 + 1))
    x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, size=2))
    box = (x0, y0, x0 + side - 1, y0 + side - 1)
    background = np.clip(rng.normal(64.0, NOISE_STD, (size, size, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in rng.integers(150, 256, size=3))
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        for y in range(y0, y0 + side, 4):
            draw.rectangle((x0, y, x0 + side - 1, min(y + 1, y0 + side - 1)), fill=colour)
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[y0 : y0 + side, x0 : x0 + side] = 255
    return np.asarray(image), mask
