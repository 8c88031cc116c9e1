"""The synthetic polygons dataset of method.md section 5: does polygon X appear in the image?

A polygon {p, q} has p vertices on a circle, vertex i joined to vertex (i + q) mod p
({5, 2} is a pentagram); p = -1 is a circle. Images show polygon outlines at random
positions, radii and rotations; the label says whether the target polygon is among
them, and the mask covers the bounding box of every target instance.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image, ImageDraw

from .index import SPLITS

CIRCLE = -1
OUTSIDE_SCALE = 1.6
PLACEMENT_TRIES = 100
GENERATOR_VERSION = 1
_IMAGE_STREAM, _LABEL_STREAM = 0, 1
BACKGROUNDS = ("black", "white")
#: names of the polygons, for the command line (`--distractors circle,square`)
SHAPE_NAMES: dict[str, tuple[int, int]] = {
    "triangle": (3, 1), "square": (4, 1), "pentagon": (5, 1), "hexagon": (6, 1),
    "circle": (CIRCLE, 1), "pentagram": (5, 2),
}
REFERENCE_KEY = "every_object_selectivity"
_FOLDERS = ("images", "masks", "distractors")

Shape = tuple[int, int]


@dataclass(frozen=True)
class PolygonSpec:
    """Every option of the polygons dataset.

    target, target_name: the polygon {p, q} to find and its name; the labels are
        target_name (at least one target instance) and "no_" + target_name.
    distractors: the other polygons; negatives hold only these.
    image_size: side of the square images, in pixels.
    n_train, n_val, n_test: number of images per split.
    objects_per_image: (min, max) number of polygons drawn, both included.
    radius: (min, max) radius of a polygon's circumscribed circle, in pixels.
    line_width: outline width, in pixels.
    allow_overlap: False places polygons so that their bounding boxes do not
        overlap; a polygon without room after PLACEMENT_TRIES positions is left out
        (the first polygon, the guaranteed target of a positive, always fits).
    border_occlusion: True lets polygons stick out of the image (centres stay inside).
    noise_std: standard deviation of Gaussian pixel noise, as a fraction of 255.
    colour: False draws white outlines on black; True gives each polygon a random colour.
    background: "black" (white outlines on black) or "white" (the image inverted: black
        outlines on white, as in the original's synthetic dataset).
    outside_probability: chance that a target gets an "outside" polygon: a
        distractor drawn around it, concentric, with OUTSIDE_SCALE times its radius
        plus line_width (it encloses the target when it is convex; a star's edges
        cross it).
    positive_fraction: share of each split that contains the target.
    seed: the whole dataset is a function of the spec, seed included.
    """

    target: Shape = (3, 1)
    target_name: str = "triangle"
    distractors: tuple[Shape, ...] = ((4, 1), (5, 1), (6, 1), (CIRCLE, 1), (5, 2))
    image_size: int = 64
    n_train: int = 4000
    n_val: int = 500
    n_test: int = 500
    objects_per_image: tuple[int, int] = (2, 6)
    radius: tuple[float, float] = (6.0, 14.0)
    line_width: int = 2
    allow_overlap: bool = False
    border_occlusion: bool = False
    noise_std: float = 0.0
    colour: bool = False
    background: str = "black"
    outside_probability: float = 0.0
    positive_fraction: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        """Store sequences as tuples (lists from YAML are welcome), then validate."""
        object.__setattr__(self, "target", tuple(self.target))
        object.__setattr__(self, "distractors", tuple(tuple(d) for d in self.distractors))
        object.__setattr__(self, "objects_per_image", tuple(self.objects_per_image))
        object.__setattr__(self, "radius", tuple(float(r) for r in self.radius))
        _check_spec(self)

    @property
    def n_images(self) -> int:
        """Number of images over all splits."""
        return self.n_train + self.n_val + self.n_test


@dataclass(frozen=True)
class PolygonSample:
    """One rendered image of the dataset, with its annotations (all uint8 in {0, 255}
    except image).

    image: H x W x 3. target_mask: 255 inside the box of every target instance.
    distractor_mask: 255 inside the box of every other polygon. target_drawing: the
    target outlines alone, as drawn (before noise).
    """

    image: np.ndarray
    target_mask: np.ndarray
    distractor_mask: np.ndarray
    target_drawing: np.ndarray
    has_target: bool


@dataclass(frozen=True)
class _Outline:
    """One polygon to draw, relative to the centre of its group."""

    shape: Shape
    radius: float
    angle: float
    is_target: bool

    @cached_property
    def vertices(self) -> list[tuple[float, float]]:
        """The polygon's vertices in drawing order, relative to the centre; the first
        one is repeated twice at the end so that every corner gets a round joint."""
        p, q = self.shape
        angles = (self.angle + 2 * math.pi * (k * q % p) / p for k in range(p + 2))
        return [(self.radius * math.cos(a), self.radius * math.sin(a)) for a in angles]

    @property
    def extreme_points(self) -> list[tuple[float, float]]:
        """Points whose bounding box is the shape's (without line width)."""
        if self.shape[0] == CIRCLE:
            return [(-self.radius, -self.radius), (self.radius, self.radius)]
        return self.vertices


def generate_polygons(root: str | Path, spec: PolygonSpec) -> Path:
    """Write the dataset under root and return the path of its index.csv.

    Writes root/images, root/masks, root/distractors (NNNNN.png each), root/index.csv
    (relative paths) and root/spec.yaml, last, as the mark of a finished run. If
    spec.yaml already holds this spec and every file exists, nothing is rewritten.
    The same spec always gives byte-identical files. Files of an earlier, larger
    dataset under root are left in place, outside the index.
    """
    root = Path(root)
    csv_path = root / "index.csv"
    record = _spec_record(spec)
    if _is_complete(root, spec, record):
        return csv_path
    (root / "spec.yaml").unlink(missing_ok=True)
    for folder in _FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    rows = []
    shares: dict[str, list[float]] = {split: [] for split in SPLITS}
    for index, (split, has_target) in enumerate(_split_labels(spec)):
        sample = render_polygon_sample(spec, index, has_target)
        if has_target:
            shares[split].append(every_object_share(sample))
        name = _file_name(index)
        for folder, array in zip(
            _FOLDERS, (sample.image, sample.target_mask, sample.distractor_mask)
        ):
            Image.fromarray(array).save(root / folder / name, compress_level=1)
        label = spec.target_name if has_target else f"no_{spec.target_name}"
        rows.append({
            "image": f"images/{name}",
            "mask": f"masks/{name}",
            "distractors": f"distractors/{name}",
            "label": label,
            "split": split,
        })
    pd.DataFrame(rows).to_csv(csv_path, index=False)
    record[REFERENCE_KEY] = {split: round(float(np.mean(values)), 4) if values else float("nan")
                             for split, values in shares.items()}
    (root / "spec.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    return csv_path


def every_object_share(sample: PolygonSample) -> float:
    """area(target boxes) / area(all boxes) of one positive sample.

    The target selectivity of a heatmap that lights every object box equally
    (`xmllib.metrics.every_object_heatmaps`): its mean over a split's positives is the
    reference a selective explanation must beat, written in spec.yaml.
    """
    target = sample.target_mask > 127
    return float(target.sum() / (target | (sample.distractor_mask > 127)).sum())


def read_references(root: str | Path) -> dict[str, float]:
    """The mean `every_object_share` per split that `generate_polygons` wrote in root/spec.yaml."""
    spec_file = Path(root) / "spec.yaml"
    record = yaml.safe_load(spec_file.read_text()) if spec_file.is_file() else None
    if not isinstance(record, dict) or REFERENCE_KEY not in record:
        raise ValueError(f"{spec_file} holds no {REFERENCE_KEY}: generate the dataset with this version")
    return record[REFERENCE_KEY]


def render_polygon_sample(spec: PolygonSpec, index: int, has_target: bool) -> PolygonSample:
    """Render image number index of the dataset in memory (the same as its files
    when has_target is that image's label)."""
    rng = np.random.default_rng([spec.seed, _IMAGE_STREAM, index])
    placed_boxes: list[np.ndarray] = []
    outlines: list[tuple[_Outline, np.ndarray]] = []
    for group in _choose_groups(spec, has_target, rng):
        offsets = _group_offsets(group, spec.line_width)
        centre = _place(offsets, placed_boxes, spec, rng)
        if centre is not None:
            placed_boxes.append(np.tile(centre, 2) + offsets)
            outlines += [(outline, centre) for outline in group]
    return _render(outlines, spec, has_target, rng)


def _choose_groups(
    spec: PolygonSpec, has_target: bool, rng: np.random.Generator
) -> list[list[_Outline]]:
    """The polygons of one image, each with its outside polygon if it gets one.

    A positive image holds one target first; every other polygon is drawn uniformly
    from the target and the distractors (from the distractors alone in a negative).
    """
    count = int(rng.integers(spec.objects_per_image[0], spec.objects_per_image[1], endpoint=True))
    pool = [spec.target, *spec.distractors] if has_target else list(spec.distractors)
    shapes = [spec.target] if has_target else []
    shapes += [pool[k] for k in rng.integers(len(pool), size=count - len(shapes))]
    groups = []
    for shape in shapes:
        radius = float(rng.uniform(*spec.radius))
        group = [_Outline(shape, radius, float(rng.uniform(0, 2 * math.pi)), shape == spec.target)]
        if shape == spec.target and rng.random() < spec.outside_probability:
            outer = spec.distractors[int(rng.integers(len(spec.distractors)))]
            group.append(_Outline(outer, _outside_radius(radius, spec.line_width),
                                  float(rng.uniform(0, 2 * math.pi)), False))
        groups.append(group)
    return groups


def _place(offsets: np.ndarray, placed_boxes: list[np.ndarray], spec: PolygonSpec,
           rng: np.random.Generator) -> np.ndarray | None:
    """A centre (x, y) for a group with box centre + offsets, or None when there is no room.

    PLACEMENT_TRIES candidate centres are drawn at once; the first whose box
    overlaps no placed box wins (any box, when overlap is allowed).
    """
    size = spec.image_size
    if spec.border_occlusion:
        low, high = np.zeros(2), np.full(2, size - 1.0)
    else:
        low, high = -offsets[:2], size - 1.0 - offsets[2:]
    centres = low + (high - low) * rng.random((PLACEMENT_TRIES, 2))
    if spec.allow_overlap or not placed_boxes:
        return centres[0]
    placed = np.stack(placed_boxes)
    low_corners = centres[:, None, :] + offsets[:2]
    high_corners = centres[:, None, :] + offsets[2:]
    overlaps = ((low_corners <= placed[:, 2:]) & (placed[:, :2] <= high_corners)).all(2).any(1)
    free = np.flatnonzero(~overlaps)
    return centres[free[0]] if free.size else None


def _render(outlines: list[tuple[_Outline, np.ndarray]], spec: PolygonSpec, has_target: bool,
            rng: np.random.Generator) -> PolygonSample:
    """Draw the placed outlines; box each one by the pixels it draws on a layer of its own."""
    size = spec.image_size
    image = Image.new("RGB", (size, size))
    target_drawing = Image.new("L", (size, size))
    image_draw, target_draw = ImageDraw.Draw(image), ImageDraw.Draw(target_drawing)
    target_mask = np.zeros((size, size), np.uint8)
    distractor_mask = np.zeros((size, size), np.uint8)
    for outline, centre in outlines:
        layer = Image.new("L", (size, size))
        _draw(ImageDraw.Draw(layer), outline, centre, spec.line_width, 255)
        x0, y0, x1, y1 = layer.getbbox()
        (target_mask if outline.is_target else distractor_mask)[y0:y1, x0:x1] = 255
        colour = tuple(int(c) for c in rng.integers(64, 256, size=3)) if spec.colour else (255,) * 3
        _draw(image_draw, outline, centre, spec.line_width, colour)
        if outline.is_target:
            _draw(target_draw, outline, centre, spec.line_width, 255)
    pixels = np.asarray(image)
    if spec.background == "white":
        pixels = 255 - pixels
    return PolygonSample(
        image=_add_noise(pixels, spec, rng),
        target_mask=target_mask,
        distractor_mask=distractor_mask,
        target_drawing=np.asarray(target_drawing),
        has_target=has_target,
    )


def _add_noise(image: np.ndarray, spec: PolygonSpec, rng: np.random.Generator) -> np.ndarray:
    """Gaussian pixel noise (grey when the image is, per channel when coloured)."""
    if spec.noise_std == 0:
        return image.copy()
    channels = 3 if spec.colour else 1
    noise = rng.normal(0.0, spec.noise_std * 255, size=(*image.shape[:2], channels))
    return np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)


def _margin(line_width: int) -> float:
    """How far a drawn outline can reach beyond its geometric shape, with a pixel to spare."""
    return line_width / 2 + 1


def _group_offsets(group: list[_Outline], line_width: int) -> np.ndarray:
    """A box (x0, y0, x1, y1) around all drawn outlines of a group, relative to their centre."""
    margin = _margin(line_width)
    xs = [x for outline in group for x, _ in outline.extreme_points]
    ys = [y for outline in group for _, y in outline.extreme_points]
    return np.array([min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin])


def _outside_radius(radius: float, line_width: int) -> float:
    return OUTSIDE_SCALE * radius + line_width


def _draw(draw: ImageDraw.ImageDraw, outline: _Outline, centre: np.ndarray, line_width: int,
          colour: int | tuple[int, ...]) -> None:
    cx, cy = float(centre[0]), float(centre[1])
    if outline.shape[0] == CIRCLE:
        r = outline.radius
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=colour, width=line_width)
    else:
        points = [(cx + x, cy + y) for x, y in outline.vertices]
        draw.line(points, fill=colour, width=line_width, joint="curve")


def _split_labels(spec: PolygonSpec) -> list[tuple[str, bool]]:
    """(split, has_target) of every image: round(n * positive_fraction) positives per
    split, in a seeded random order."""
    labels = []
    for number, (split, n) in enumerate(zip(SPLITS, (spec.n_train, spec.n_val, spec.n_test))):
        has_target = np.arange(n) < round(n * spec.positive_fraction)
        np.random.default_rng([spec.seed, _LABEL_STREAM, number]).shuffle(has_target)
        labels += [(split, bool(flag)) for flag in has_target]
    return labels


def _file_name(index: int) -> str:
    return f"{index:05d}.png"


def _spec_record(spec: PolygonSpec) -> dict:
    """The spec as plain YAML-able data (tuples as lists), with the generator version."""
    fields = json.loads(json.dumps(dataclasses.asdict(spec)))
    return {"generator_version": GENERATOR_VERSION, **fields}


def _is_complete(root: Path, spec: PolygonSpec, record: dict) -> bool:
    """Whether root already holds the dataset of this spec."""
    spec_file = root / "spec.yaml"
    written = yaml.safe_load(spec_file.read_text()) if spec_file.is_file() else None
    if not isinstance(written, dict) or REFERENCE_KEY not in written:
        return False
    if {key: value for key, value in written.items() if key != REFERENCE_KEY} != record:
        return False
    names = [_file_name(index) for index in range(spec.n_images)]
    return (root / "index.csv").is_file() and all(
        (root / folder / name).is_file() for folder in _FOLDERS for name in names
    )


def _check_spec(spec: PolygonSpec) -> None:
    """Raise ValueError naming the first thing wrong with spec."""
    _check_shape(spec.target, "target")
    for shape in spec.distractors:
        _check_shape(shape, "distractor")
    if not spec.distractors:
        raise ValueError("distractors is empty; negatives need at least one distractor polygon")
    if spec.target in spec.distractors:
        raise ValueError(
            f"the target {spec.target} is also among the distractors {spec.distractors}"
        )
    if spec.background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {spec.background!r}")
    if not spec.target_name.strip():
        raise ValueError("target_name is empty; it names the classes (e.g. 'triangle')")
    _check_at_least("image_size", spec.image_size, 8)
    _check_at_least("n_train", spec.n_train, 1)
    _check_at_least("n_val", spec.n_val, 0)
    _check_at_least("n_test", spec.n_test, 0)
    _check_at_least("line_width", spec.line_width, 1)
    _check_range("objects_per_image", spec.objects_per_image, 1)
    _check_range("radius", spec.radius, 1.0)
    _check_fits(spec, spec.radius[1], "radius")
    if spec.outside_probability > 0:
        outside = _outside_radius(spec.radius[1], spec.line_width)
        _check_fits(spec, outside, "outside polygon radius")
    if spec.noise_std < 0:
        raise ValueError(f"noise_std must be >= 0, got {spec.noise_std}")
    for name in ("outside_probability", "positive_fraction"):
        if not 0.0 <= getattr(spec, name) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {getattr(spec, name)}")


def _check_shape(shape: tuple, role: str) -> None:
    """A polygon {p, q} needs p >= 3, 1 <= q < p / 2 and gcd(p, q) = 1; a circle is (-1, 1)."""
    if len(shape) != 2:
        raise ValueError(f"{role} polygon {shape} must be a pair (p, q)")
    p, q = shape
    if p == CIRCLE:
        if q != 1:
            raise ValueError(f"{role} {shape}: a circle is written ({CIRCLE}, 1)")
        return
    if p < 3:
        raise ValueError(f"{role} {shape}: p must be >= 3 vertices, or {CIRCLE} for a circle")
    if not 1 <= q < p / 2:
        raise ValueError(f"{role} {shape}: q must satisfy 1 <= q < p / 2 ((p, q) and (p, p - q) "
                         "are the same polygon)")
    if math.gcd(p, q) != 1:
        raise ValueError(f"{role} {shape}: p and q must be coprime, otherwise the outline is "
                         f"{math.gcd(p, q)} overlaid polygons, not one")


def _check_at_least(name: str, value: int, lowest: int) -> None:
    if value < lowest:
        raise ValueError(f"{name} must be >= {lowest}, got {value}")


def _check_range(name: str, bounds: tuple, lowest: float) -> None:
    if len(bounds) != 2 or not lowest <= bounds[0] <= bounds[1]:
        raise ValueError(f"{name} must be (min, max) with {lowest} <= min <= max, got {bounds}")


def _check_fits(spec: PolygonSpec, radius: float, what: str) -> None:
    """A polygon of this radius, drawn with its margin, must fit inside the image."""
    needed = 2 * (radius + _margin(spec.line_width))
    if needed > spec.image_size - 1:
        raise ValueError(
            f"{what} {radius:g} is too large for image_size {spec.image_size}: with line width "
            f"{spec.line_width} it needs {needed:g} px; lower the radius (--radius MIN,MAX) or raise image_size "
            "(--image-size)"
        )
