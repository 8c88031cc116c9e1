"""A torch Dataset over one split of a CSV index, and the loaders for all splits."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, Subset, get_worker_info

from .augmentation import make_augmentation
from .index import SPLITS, DatasetError, class_names, read_index
from .sampling import stratified_sample

if TYPE_CHECKING:
    import albumentations as A

#: a split is kept decoded in memory when its images, masks and distractor masks take at most this
#: many bytes (the demo's 1500 training images of 64 px: 31 MB)
CACHE_BYTES = 2**30
BYTES_PER_PIXEL = 5


class IndexDataset(Dataset):
    """One split of a CSV index as batches of the form described in docs/design.md.

    index: the CSV path, or a DataFrame returned by ``read_index``.
    classes: class names in index order; by default the sorted train labels.
    Images are converted to RGB (grayscale and RGBA too; alpha is dropped) and
    resized to image_size x image_size with PIL's bilinear filter, which averages
    over the source area when shrinking. Masks are resized with nearest
    neighbours and thresholded at 0.5 (pixel > 127), so grey or JPEG-like mask
    values are kept (the original divided by 255 and cast to uint8, which zeroed
    every value below 255). The image is returned in pixel space, [0, 1], not
    normalised: the model normalises. `in_memory` keeps each decoded image and
    mask in memory from its first read on (before augmentation), so later epochs
    read no file; by default (None) a split is kept when its arrays fit in
    `CACHE_BYTES`.
    """

    def __init__(
        self,
        index: str | Path | pd.DataFrame,
        split: str,
        image_size: int,
        classes: list[str] | None = None,
        augmentation: A.Compose | None = None,
        in_memory: bool | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if image_size < 1:
            raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
        frame = index if isinstance(index, pd.DataFrame) else read_index(index)
        rows = frame[frame["split"] == split].reset_index(drop=True)
        if rows.empty:
            raise DatasetError(f"the index has no rows in split {split!r}")
        self.classes = list(classes) if classes is not None else class_names(frame)
        self.labels = _label_indices(rows["label"], self.classes)
        self.image_size = image_size
        self.augmentation = augmentation
        self._images = rows["image"].tolist()
        self._masks = rows["mask"].tolist()
        self._distractors = rows["distractors"].tolist()
        if in_memory is None:
            in_memory = len(rows) * image_size * image_size * BYTES_PER_PIXEL <= CACHE_BYTES
        self._decoded: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = {} if in_memory else None

    def __len__(self) -> int:
        return len(self._images)

    def _decode(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image, mask and distractor mask of row i as uint8 arrays, from memory once decoded (when cached)."""
        if self._decoded is not None and i in self._decoded:
            return self._decoded[i]
        arrays = (_read_image(self._images[i], self.image_size), _read_mask(self._masks[i], self.image_size),
                  _read_mask(self._distractors[i], self.image_size))
        if self._decoded is not None:
            self._decoded[i] = arrays
        return arrays

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image, mask, distractors = self._decode(i)
        if self.augmentation is not None:
            out = self.augmentation(image=image, masks=[mask, distractors])
            image, (mask, distractors) = out["image"], out["masks"]
        return {
            "image": _image_tensor(image),
            "mask": _mask_tensor(mask),
            "has_mask": torch.tensor(bool(self._masks[i])),
            "distractors": _mask_tensor(distractors),
            "has_distractors": torch.tensor(bool(self._distractors[i])),
            "label": self.labels[i],
            "index": torch.tensor(i, dtype=torch.int64),
        }


def make_loaders(
    index: str | Path | pd.DataFrame,
    image_size: int,
    batch_size: int,
    aug_prob: float,
    seed: int,
    num_workers: int = 0,
    in_memory: bool | None = None,
) -> dict[str, DataLoader]:
    """DataLoaders for the splits present in the index (a CSV path or ``read_index``'s frame), keyed by split.

    All splits share the train split's class names. Only train is shuffled (by a
    generator seeded with seed) and augmented (each transform with probability
    aug_prob, seeded too; workers reseed it from their own torch seed so that they
    do not repeat each other's augmentations). A last train batch of a single image
    is dropped (a different image each epoch, as the order is shuffled): BatchNorm
    cannot train on a batch of one where a feature map is 1 x 1. `in_memory`: see
    `IndexDataset`.
    """
    frame = index if isinstance(index, pd.DataFrame) else read_index(index)
    classes = class_names(frame)
    loaders = {}
    for split in SPLITS:
        if not (frame["split"] == split).any():
            continue
        train = split == "train"
        dataset = IndexDataset(
            frame,
            split,
            image_size,
            classes,
            augmentation=make_augmentation(aug_prob, seed) if train else None,
            in_memory=in_memory,
        )
        loaders[split] = DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            drop_last=train and len(dataset) > batch_size and len(dataset) % batch_size == 1,
            generator=torch.Generator().manual_seed(seed) if train else None,
            num_workers=num_workers,
            worker_init_fn=_seed_worker_augmentation,
        )
    return loaders


def unaugmented(loader: DataLoader) -> DataLoader:
    """The loader's images in order, none augmented or dropped: for measuring a split, not training on it."""
    return DataLoader(_without_augmentation(loader.dataset), batch_size=loader.batch_size,
                      num_workers=loader.num_workers)


def measured_sample(loader: DataLoader, n: int, seed: int) -> DataLoader:
    """`unaugmented(loader)` limited to `n` of its images (0: all), a seeded sample stratified by label.

    The per-epoch statistics of the train split measure this sample: the same images
    after every epoch, so the curves stay comparable, at a fraction of the whole split's cost.
    """
    plain = unaugmented(loader)
    if n == 0 or n >= len(plain.dataset):
        return plain
    positions = stratified_sample(_labels(plain.dataset), n, seed).tolist()
    return DataLoader(Subset(plain.dataset, positions), batch_size=plain.batch_size, num_workers=plain.num_workers)


def _labels(dataset: Dataset) -> torch.Tensor:
    """The labels of an IndexDataset, or of the IndexDataset under a Subset."""
    if isinstance(dataset, Subset):
        return _labels(dataset.dataset)[list(dataset.indices)]
    return dataset.labels


def _without_augmentation(dataset: Dataset) -> Dataset:
    """A shallow copy of `dataset` (or of the dataset under a Subset) whose augmentation is off."""
    if isinstance(dataset, Subset):
        return Subset(_without_augmentation(dataset.dataset), dataset.indices)
    if getattr(dataset, "augmentation", None) is None:
        return dataset
    plain = copy.copy(dataset)
    plain.augmentation = None
    return plain


def _seed_worker_augmentation(worker_id: int) -> None:
    """Give each worker's augmentation its own seed, derived from the loader's generator."""
    dataset = get_worker_info().dataset
    if dataset.augmentation is not None:
        dataset.augmentation.set_random_seed(torch.initial_seed() % 2**32)


def _label_indices(labels: pd.Series, classes: list[str]) -> torch.Tensor:
    position = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(labels) - position.keys())
    if unknown:
        raise DatasetError(f"labels {unknown} are not among the classes {classes}")
    return torch.tensor([position[label] for label in labels], dtype=torch.int64)


def _image_tensor(image: np.ndarray) -> torch.Tensor:
    """A uint8 H x W x 3 image as float32 3 x H x W in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0


def _mask_tensor(mask: np.ndarray) -> torch.Tensor:
    """A uint8 H x W mask in {0, 1} as float32 1 x H x W."""
    return torch.from_numpy(np.ascontiguousarray(mask)).float().unsqueeze(0)


def open_image(path: str, mode: str) -> Image.Image:
    """Open an image file, fully decoded and converted to mode; DatasetError if unreadable."""
    try:
        with Image.open(path) as image:
            return image.convert(mode)
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise DatasetError(f"cannot read image file {path}: {error}") from error


def _read_image(path: str, size: int) -> np.ndarray:
    """The image at path as uint8 size x size x 3."""
    image = open_image(path, "RGB")
    return np.array(image.resize((size, size), Image.Resampling.BILINEAR))


def load_image(path: str | Path, size: int) -> torch.Tensor:
    """An image file as the model takes it: float32 3 x size x size in [0, 1], RGB."""
    return _image_tensor(_read_image(str(path), size))


def _read_mask(path: str, size: int) -> np.ndarray:
    """The mask at path as uint8 size x size in {0, 1}; zeros when path is ""."""
    if not path:
        return np.zeros((size, size), dtype=np.uint8)
    mask = open_image(path, "L").resize((size, size), Image.Resampling.NEAREST)
    return (np.asarray(mask) > 127).astype(np.uint8)
