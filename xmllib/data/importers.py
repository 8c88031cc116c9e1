"""Importers: an image-folder layout, or images with Pascal VOC boxes, become a CSV index.

Folder layout: ``ROOT/<class>/<image>`` or ``ROOT/<split>/<class>/<image>`` (split one of
train, val, test; images may also sit in subfolders of their class folder). A mask,
when an image has one, lies beside it as ``<image stem>_mask.png``. Where the layout
has no split folders, the splits are drawn per class (stratified) with seeded ratios;
where it has some but not all, the missing ones are drawn from the train folder.

VOC: the same layout of images, plus a Pascal VOC XML file per image, matched by file
stem (ImageNet's bounding-box files use this format). Masks are rendered from the boxes
of the objects named and written as PNGs (0 and 255).

Importers return absolute paths; ``write_index`` writes the CSV with paths relative
to the CSV's folder (docs/design.md).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from .index import SPLITS, DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MASK_SUFFIX = "_mask"
DEFAULT_RATIOS = (0.7, 0.15, 0.15)
INDEX_COLUMNS = ("image", "mask", "label", "split")
_SHOWN = 5

Box = tuple[float, float, float, float]


@dataclass
class ImportedIndex:
    """An importer's result: the index rows (absolute paths) and the files under ROOT it did not use."""

    index: pd.DataFrame
    unused: list[Path]


@dataclass(frozen=True)
class VocAnnotation:
    """One Pascal VOC XML file: the annotated image size (width, height), if given, and its boxes by object name."""

    size: tuple[int, int] | None
    boxes: list[tuple[str, Box]]


def folder_index(
    root: str | Path,
    *,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    seed: int = 0,
    mask_suffix: str = MASK_SUFFIX,
) -> ImportedIndex:
    """Index an image-folder layout; ratios (train, val, test) are used where the layout has no splits."""
    scanned = scan_folder(Path(root), mask_suffix)
    scanned.index["split"] = assign_splits(scanned.index, ratios, seed)
    return scanned


def voc_index(
    root: str | Path,
    *,
    objects: Sequence[str] | None = None,
    annotations: str | Path | None = None,
    masks: str | Path | None = None,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    seed: int = 0,
    mask_suffix: str = MASK_SUFFIX,
) -> ImportedIndex:
    """Index images in a folder layout whose masks are rendered from Pascal VOC boxes.

    objects: the object names whose boxes make the mask (ImageNet names objects by
        synset, e.g. n02389026); by default each image's own class name.
    annotations: the folder searched (recursively) for ``<image stem>.xml``; default ROOT.
    masks: the folder the masks are written to, mirroring ROOT's layout; by default
        beside each image as ``<stem>_mask.png``, where ``folder_index`` finds them too.
    An image without an XML file gets no mask (mask ""), one whose XML has no box of
    those objects gets an empty (all-zero) mask: annotated, nothing relevant. Both are
    counted by the data summary (``xmllib.data.checks.summarise``). When none of the
    objects looked for appears in any XML file, that is an error naming the objects found.
    """
    root = Path(root).resolve()
    scanned = scan_folder(root, mask_suffix)
    xml_files = annotation_files(Path(annotations).resolve() if annotations is not None else root)
    frame = scanned.index
    rendered, wanted, found = [], set(), set()
    for image, label in zip(frame["image"], frame["label"]):
        xml = xml_files.get(Path(image).stem)
        if xml is None:
            rendered.append("")
            continue
        annotation = read_voc(xml)
        names = set(objects) if objects else {label}
        wanted |= names
        found |= {name for name, _ in annotation.boxes}
        target = _mask_path(Path(image), root, None if masks is None else Path(masks), mask_suffix)
        write_mask(target, voc_mask(Path(image), annotation, names))
        rendered.append(str(target))
    if wanted and not wanted & found:
        raise DatasetError(
            f"no box of the objects {sorted(wanted)} in the XML files, which name {sorted(found)[:10]}; "
            "give the object names with --objects (ImageNet names them by synset, e.g. n02389026)"
        )
    frame["mask"] = rendered
    frame["split"] = assign_splits(frame, ratios, seed)
    used = set(xml_files.values())
    return ImportedIndex(frame, [path for path in scanned.unused if path not in used])


def scan_folder(root: Path, mask_suffix: str = MASK_SUFFIX) -> ImportedIndex:
    """The images of a folder layout (absolute paths) with their masks, labels and layout splits ("" if none)."""
    root = root.resolve()
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; expected ROOT/<class>/<images> or ROOT/<split>/<class>/<images>")
    folders = _subfolders(root)
    split_folders = [folder for folder in folders if folder.name in SPLITS]
    if split_folders and len(split_folders) != len(folders):
        others = sorted(folder.name for folder in folders if folder.name not in SPLITS)
        raise DatasetError(
            f"{root} mixes split folders {[f.name for f in split_folders]} with other folders {others}; "
            "use either ROOT/<class>/... or ROOT/<split>/<class>/... with splits train, val, test"
        )
    if split_folders:
        class_folders = [(split.name, folder) for split in split_folders for folder in _subfolders(split)]
    else:
        class_folders = [("", folder) for folder in folders]
    loose = [path for parent in {root, *split_folders} for path in _files(parent) if _is_image(path)]
    if loose:
        raise DatasetError(
            f"{len(loose)} images lie outside any class folder, for example {sorted(map(str, loose))[:_SHOWN]}; "
            "put each image in a folder named after its class"
        )
    rows, unused = [], [path for parent in {root, *split_folders} for path in _files(parent)]
    for split, folder in class_folders:
        pairs, left = pair_masks(sorted(p for p in folder.rglob("*") if p.is_file()), mask_suffix)
        rows += [{"image": str(image), "mask": str(mask) if mask else "", "label": folder.name, "split": split}
                 for image, mask in pairs]
        unused += left
    if not rows:
        raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in the class folders of {root}")
    return ImportedIndex(pd.DataFrame(rows, columns=list(INDEX_COLUMNS)), sorted(unused))


def pair_masks(
    files: Iterable[Path], mask_suffix: str = MASK_SUFFIX
) -> tuple[list[tuple[Path, Path | None]], list[Path]]:
    """Images paired with the ``<stem><mask_suffix>.*`` mask beside them, and the files left over.

    Left over: files that are not images, and masks without an image of that stem.
    """
    images, masks, left = [], {}, []
    for path in files:
        if not _is_image(path):
            left.append(path)
        elif path.stem.endswith(mask_suffix):
            key = (path.parent, path.stem.removesuffix(mask_suffix))
            if key in masks:
                raise DatasetError(f"two masks for one image: {masks[key]} and {path}; keep one")
            masks[key] = path
        else:
            images.append(path)
    pairs = [(image, masks.pop((image.parent, image.stem), None)) for image in images]
    return pairs, left + list(masks.values())


def assign_splits(frame: pd.DataFrame, ratios: Sequence[float], seed: int) -> pd.Series:
    """The split of every row: the layout's where it has all three, else drawn per class with the ratios.

    ratios: train, val, test fractions (non-negative, summing to 1). Rows without a
    layout split are spread over all three; in a layout with a train folder but
    without val or test, the missing splits are drawn from train's rows, with their
    ratios relative to train's.
    """
    wanted = dict(zip(SPLITS, _check_ratios(ratios)))
    present = set(frame["split"]) - {""}
    if present and "train" not in present:
        raise DatasetError(f"the layout has split folders {sorted(present)} but no train folder")
    missing = [split for split in SPLITS if split not in present]
    pool = frame["split"] == ("" if not present else "train")
    if present and not missing:
        return frame["split"].copy()
    targets = wanted if not present else {split: wanted[split] for split in ("train", *missing)}
    splits = frame["split"].copy()
    splits[pool] = stratified_split(frame.loc[pool, "label"], targets, seed)
    return splits


def stratified_split(labels: pd.Series, ratios: Mapping[str, float], seed: int) -> pd.Series:
    """A split name per row: within each class, a seeded shuffle cut into parts proportional to ratios.

    Part sizes round by largest remainder, so they add up to the class size (ties go
    to the split named first).
    """
    names = list(ratios)
    weights = np.array([ratios[name] for name in names], dtype=float)
    weights = weights / weights.sum()
    rng = np.random.default_rng(seed)
    out = pd.Series("", index=labels.index, dtype=object)
    for label in sorted(set(labels)):
        rows = labels.index[labels == label]
        counts = largest_remainder(len(rows), weights)
        out.loc[rng.permutation(rows)] = np.repeat(names, counts)
    return out


def largest_remainder(n: int, weights: np.ndarray) -> np.ndarray:
    """n split into integer parts proportional to weights (summing to 1) that add up to n."""
    exact = n * weights
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def annotation_files(folder: Path) -> dict[str, Path]:
    """Every ``*.xml`` file under folder, by file stem (the stem of the image it annotates)."""
    if not folder.is_dir():
        raise DatasetError(f"annotation folder {folder} does not exist")
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.xml")):
        if path.stem in found:
            raise DatasetError(f"two annotation files for images named {path.stem!r}: {found[path.stem]} and {path}")
        found[path.stem] = path
    if not found:
        raise DatasetError(f"no Pascal VOC .xml files under {folder}; point --annotations at their folder")
    return found


def read_voc(path: str | Path) -> VocAnnotation:
    """The size and the boxes (name, (xmin, ymin, xmax, ymax)) of a Pascal VOC XML file."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as error:
        raise DatasetError(f"cannot read the Pascal VOC file {path}: {error}") from error
    boxes = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        try:
            coordinates = tuple(float(box.findtext(key)) for key in ("xmin", "ymin", "xmax", "ymax"))
        except (AttributeError, TypeError, ValueError):
            raise DatasetError(
                f"{path}: object {name!r} needs a <bndbox> with numeric xmin, ymin, xmax, ymax"
            ) from None
        boxes.append((name, coordinates))
    return VocAnnotation(_voc_size(root), boxes)


def _voc_size(root: ET.Element) -> tuple[int, int] | None:
    """(width, height) of a VOC file's <size>, or None when it is absent or zero."""
    try:
        size = int(root.findtext("size/width")), int(root.findtext("size/height"))
    except (TypeError, ValueError):
        return None
    return size if min(size) > 0 else None


def render_boxes(size: tuple[int, int], boxes: Iterable[Box]) -> np.ndarray:
    """A uint8 height x width mask, 255 inside the boxes and 0 elsewhere.

    Boxes are (xmin, ymin, xmax, ymax) in Pascal VOC's convention: 1-based pixel
    indices, both ends included, so (1, 1, 2, 3) covers columns 0-1 and rows 0-2.
    Coordinates are rounded and clipped to the image.
    """
    width, height = size
    mask = np.zeros((height, width), dtype=np.uint8)
    for xmin, ymin, xmax, ymax in boxes:
        x0, y0 = max(round(xmin) - 1, 0), max(round(ymin) - 1, 0)
        mask[y0 : min(round(ymax), height), x0 : min(round(xmax), width)] = 255
    return mask


def voc_mask(image: Path, annotation: VocAnnotation, names: set[str]) -> np.ndarray:
    """The mask of the boxes of objects named in names, at the image's size.

    Boxes are drawn at the size the XML gives (their coordinate frame) and resized
    with nearest neighbours when the image file has another size. An unreadable
    image keeps the XML's size (the data checks report the image).
    """
    image_size = _image_size(image)
    frame_size = annotation.size or image_size
    if frame_size is None:
        raise DatasetError(f"{image} cannot be read and its annotation gives no <size>; cannot draw its mask")
    mask = render_boxes(frame_size, [box for name, box in annotation.boxes if name in names])
    if image_size is not None and image_size != frame_size:
        return np.asarray(Image.fromarray(mask).resize(image_size, Image.Resampling.NEAREST))
    return mask


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image file's header; None when it cannot be read."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError):
        return None


def write_mask(path: Path, mask: np.ndarray) -> None:
    """Save a uint8 mask (0 and 255) as a PNG, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask).save(path)


def describe_unused(unused: Sequence[Path]) -> str:
    """One line on the files an importer left out, counted by extension, with a few examples."""
    if not unused:
        return "every file was used"
    counts = pd.Series([path.suffix.lower() or "(no extension)" for path in unused]).value_counts()
    kinds = ", ".join(f"{suffix}: {count}" for suffix, count in counts.items())
    return (f"{len(unused)} files not used (not images, or masks without an image) ({kinds}), "
            f"for example {[str(p) for p in unused[:_SHOWN]]}")


def _mask_path(image: Path, root: Path, masks: Path | None, mask_suffix: str) -> Path:
    """Where an image's rendered mask goes: beside it, or under masks mirroring ROOT's layout."""
    folder = image.parent if masks is None else masks / image.parent.relative_to(root)
    return folder / f"{image.stem}{mask_suffix}.png"


def _check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) != 3 or min(ratios) < 0 or ratios[0] == 0 or abs(sum(ratios) - 1) > 1e-6:
        raise DatasetError(
            f"split ratios must be 3 non-negative numbers (train, val, test) with train > 0, "
            f"summing to 1 (e.g. 0.7,0.15,0.15); got {ratios}"
        )
    return ratios


def _subfolders(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))


def _files(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if path.is_file()]


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES
