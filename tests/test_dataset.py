"""IndexDataset items, mask binarisation, loaders and augmentation."""

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from xmllib.data import (
    DatasetError,
    IndexDataset,
    make_augmentation,
    make_loaders,
    measured_sample,
)


def _save(path, array):
    Image.fromarray(array).save(path)
    return path.name


def _index(folder, rows):
    path = folder / "index.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def rgb_index(tmp_path):
    """Two train images 20 x 40 (H x W) with masks, one val image without."""
    rng = np.random.default_rng(0)
    rows = []
    for i, (label, split) in enumerate([("zebra", "train"), ("horse", "train"), ("horse", "val")]):
        image = _save(tmp_path / f"im{i}.png", rng.integers(0, 256, (20, 40, 3), dtype=np.uint8))
        mask = np.zeros((20, 40), np.uint8)
        mask[4:12, 8:24] = 255
        rows.append({
            "image": image,
            "mask": _save(tmp_path / f"mask{i}.png", mask) if split == "train" else "",
            "label": label,
            "split": split,
        })
    return _index(tmp_path, rows)


def test_item_shapes_dtypes_and_ranges(rgb_index):
    dataset = IndexDataset(rgb_index, "train", image_size=16)
    item = dataset[1]
    assert len(dataset) == 2
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
    assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert item["mask"].shape == (1, 16, 16) and item["mask"].dtype == torch.float32
    assert set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert item["has_mask"].item() is True
    assert item["distractors"].shape == (1, 16, 16) and not item["distractors"].any()
    assert item["has_distractors"].item() is False
    assert item["label"].dtype == torch.int64 and item["label"].item() == 0  # horse < zebra
    assert item["index"].item() == 1


def test_classes_and_labels(rgb_index):
    dataset = IndexDataset(rgb_index, "train", image_size=8)
    assert dataset.classes == ["horse", "zebra"]
    assert dataset.labels.tolist() == [1, 0] and dataset.labels.dtype == torch.int64
    given = IndexDataset(rgb_index, "train", image_size=8, classes=["zebra", "horse", "donkey"])
    assert given.labels.tolist() == [0, 1]
    with pytest.raises(DatasetError, match=r"\['zebra'\] are not among the classes"):
        IndexDataset(rgb_index, "train", image_size=8, classes=["horse"])


def test_val_item_without_mask(rgb_index):
    item = IndexDataset(rgb_index, "val", image_size=8)[0]
    assert item["has_mask"].item() is False and not item["mask"].any()


def test_image_matches_an_antialiased_bilinear_resize_and_keeps_height_and_width(tmp_path):
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :20, 0] = 255  # left half red: a swap of height and width would move it
    image[:, :, 2] = np.linspace(0, 255, 40, dtype=np.uint8)
    csv = _index(tmp_path, [{"image": _save(tmp_path / "a.png", image), "label": "x",
                             "split": "train"}])
    got = IndexDataset(csv, "train", image_size=10)[0]["image"]
    reference = TF.resize(torch.from_numpy(image).permute(2, 0, 1).float(), [10, 10],
                          antialias=True) / 255
    assert torch.allclose(got, reference, atol=2 / 255)
    assert (got[0, :, :4] == 1).all() and (got[0, :, 6:] == 0).all()


def test_grey_mask_values_survive_nearest_resize_and_threshold(tmp_path):
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 128, (40, 40), dtype=np.uint8)  # below the threshold: background
    mask[8:32, 4:20] = rng.integers(128, 256, (24, 16))  # JPEG-like grey box
    csv = _index(tmp_path, [{
        "image": _save(tmp_path / "a.png", np.zeros((40, 40, 3), np.uint8)),
        "mask": _save(tmp_path / "m.png", mask),
        "distractors": _save(tmp_path / "d.png", mask),
        "label": "x", "split": "train",
    }])
    item = IndexDataset(csv, "train", image_size=20)[0]
    expected = torch.zeros(1, 20, 20)
    expected[:, 4:16, 2:10] = 1  # nearest neighbour samples source pixel 2 * i + 1
    assert torch.equal(item["mask"], expected)
    assert torch.equal(item["distractors"], expected)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_grayscale_rgba_and_palette_images_become_rgb(tmp_path, mode):
    rgb = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    source = Image.fromarray(rgb).convert(mode)
    source.save(tmp_path / "a.png")
    csv = _index(tmp_path, [{"image": "a.png", "label": "x", "split": "train"}])
    got = IndexDataset(csv, "train", image_size=8)[0]["image"]
    expected = np.asarray(source.convert("RGB"), dtype=np.float32) / 255
    assert got.shape == (3, 8, 8)
    assert torch.equal(got, torch.from_numpy(expected).permute(2, 0, 1))
    if mode == "L":
        assert torch.equal(got[0], got[1]) and torch.equal(got[1], got[2])


def test_unreadable_files_raise_dataset_error_naming_them(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    good = _save(tmp_path / "good.png", np.zeros((4, 4, 3), np.uint8))
    csv = _index(tmp_path, [
        {"image": "broken.png", "mask": "", "label": "x", "split": "train"},
        {"image": good, "mask": "broken.png", "label": "x", "split": "train"},
    ])
    dataset = IndexDataset(csv, "train", image_size=4)
    for i in range(2):
        with pytest.raises(DatasetError, match=str(tmp_path / "broken.png")):
            dataset[i]


def test_bad_or_empty_split(rgb_index):
    with pytest.raises(ValueError, match="one of"):
        IndexDataset(rgb_index, "validation", image_size=8)
    with pytest.raises(DatasetError, match="no rows in split 'test'"):
        IndexDataset(rgb_index, "test", image_size=8)


def test_augmented_items_keep_binary_masks(rgb_index):
    dataset = IndexDataset(rgb_index, "train", image_size=16,
                           augmentation=make_augmentation(1.0, seed=0))
    for i in range(len(dataset)):
        item = dataset[i]
        assert item["image"].shape == (3, 16, 16)
        assert set(item["mask"].unique().tolist()) <= {0.0, 1.0} and item["mask"].any()


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_augmentation_probability_out_of_range(p):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        make_augmentation(p)


def test_no_augmentation_at_zero_probability():
    assert make_augmentation(0.0) is None


def test_seeded_augmentation_is_reproducible():
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    mask = np.zeros((16, 16), np.uint8)
    mask[4:10, 2:8] = 1
    first, second = make_augmentation(1.0, seed=3), make_augmentation(1.0, seed=3)
    a, b = first(image=image, masks=[mask]), second(image=image, masks=[mask])
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["masks"][0], b["masks"][0])
    assert not np.array_equal(a["image"], image)


def test_loaders_cover_present_splits_and_augment_only_train(rgb_index):
    loaders = make_loaders(rgb_index, image_size=8, batch_size=2, aug_prob=0.5, seed=0)
    assert set(loaders) == {"train", "val"}
    assert loaders["train"].dataset.augmentation is not None
    assert loaders["val"].dataset.augmentation is None
    assert loaders["val"].dataset.classes == ["horse", "zebra"]
    batch = next(iter(loaders["train"]))
    assert batch["image"].shape == (2, 3, 8, 8) and batch["label"].dtype == torch.int64
    assert batch["has_mask"].dtype == torch.bool


def test_train_order_is_shuffled_reproducibly(tmp_path):
    image = _save(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    csv = _index(tmp_path, [{"image": image, "label": "x", "split": "train"}] * 12
                 + [{"image": image, "label": "x", "split": "test"}] * 12)

    def order(seed, split):
        loader = make_loaders(csv, image_size=4, batch_size=4, aug_prob=0.0, seed=seed)[split]
        return torch.cat([batch["index"] for batch in loader]).tolist()

    assert order(0, "train") == order(0, "train")
    assert order(0, "train") != order(1, "train")
    assert sorted(order(0, "train")) == list(range(12))
    assert order(0, "test") == list(range(12))


def test_workers_do_not_repeat_each_others_augmentations(tmp_path):
    image = _save(tmp_path / "a.png",
                  np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8))
    csv = _index(tmp_path, [{"image": image, "label": "x", "split": "train"}] * 2)
    loader = make_loaders(csv, image_size=8, batch_size=1, aug_prob=1.0, seed=0, num_workers=2)
    first, second = list(loader["train"])  # one batch from each worker, same image
    assert not torch.equal(first["image"], second["image"])


def _files(index):
    return [index.parent / name for name in pd.read_csv(index, keep_default_na=False)[["image", "mask"]].values.ravel()
            if name]


def test_a_split_in_memory_reads_each_file_once(rgb_index):
    kept, read = IndexDataset(rgb_index, "train", 16), IndexDataset(rgb_index, "train", 16, in_memory=False)
    first = [kept[i] for i in range(len(kept))]
    for path in _files(rgb_index):
        path.unlink()
    for i, item in enumerate(first):
        again = kept[i]
        assert all(torch.equal(again[key], item[key]) for key in item)
    with pytest.raises(DatasetError, match="cannot read image file"):
        read[0]


def test_augmentation_does_not_change_the_images_kept_in_memory(rgb_index):
    plain = IndexDataset(rgb_index, "train", 16, in_memory=False)[0]
    augmented = IndexDataset(rgb_index, "train", 16, augmentation=make_augmentation(1.0, seed=0), in_memory=True)
    changed = augmented[0]
    augmented.augmentation = None
    assert not torch.equal(changed["image"], plain["image"])
    assert torch.equal(augmented[0]["image"], plain["image"]) and torch.equal(augmented[0]["mask"], plain["mask"])


def test_a_split_too_large_for_memory_is_read_from_disk(rgb_index, monkeypatch):
    monkeypatch.setattr("xmllib.data.dataset.CACHE_BYTES", 16 * 16 * 5)
    dataset = IndexDataset(rgb_index, "train", 16)
    dataset[0]
    for path in _files(rgb_index):
        path.unlink()
    with pytest.raises(DatasetError, match="cannot read image file"):
        dataset[0]


def test_the_measured_sample_is_fixed_stratified_and_unaugmented(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"image": _save(tmp_path / f"im{i}.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)), "mask": "",
             "label": "a" if i < 30 else "b", "split": "train"} for i in range(40)]
    loaders = make_loaders(_index(tmp_path, rows), 8, batch_size=4, aug_prob=1.0, seed=0)
    sample = measured_sample(loaders["train"], 8, seed=3)
    labels = torch.cat([batch["label"] for batch in sample])
    positions = torch.cat([batch["index"] for batch in sample])
    assert len(labels) == 8 and labels.bincount().tolist() == [6, 2]
    assert torch.equal(positions, torch.cat([batch["index"] for batch in measured_sample(loaders["train"], 8, 3)]))
    assert sample.dataset.dataset.augmentation is None and loaders["train"].dataset.augmentation is not None
    unaugmented_items = IndexDataset(_index(tmp_path, rows), "train", 8)
    first = next(iter(sample))
    assert torch.equal(first["image"][0], unaugmented_items[int(first["index"][0])]["image"])
    assert len(measured_sample(loaders["train"], 0, seed=3).dataset) == 40
    assert len(measured_sample(loaders["train"], 100, seed=3).dataset) == 40
