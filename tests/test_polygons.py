"""The synthetic polygons dataset: determinism, caching, labels, masks, bad specs."""

import numpy as np
import pandas as pd
import pytest
import torch

from xmllib.data import (
    IndexDataset,
    PolygonSpec,
    generate_polygons,
    make_augmentation,
    read_index,
    render_polygon_sample,
)

TINY = dict(image_size=32, radius=(3, 7), n_train=12, n_val=4, n_test=4)


def _files(root):
    return sorted(path for path in root.rglob("*") if path.is_file())


def _bbox(binary):
    rows, cols = np.flatnonzero(binary.any(1)), np.flatnonzero(binary.any(0))
    return rows[0], rows[-1], cols[0], cols[-1]


def test_same_spec_gives_byte_identical_files(tmp_path):
    spec = PolygonSpec(**TINY, noise_std=0.05, colour=True, outside_probability=0.5)
    first, second = generate_polygons(tmp_path / "a", spec), generate_polygons(tmp_path / "b", spec)
    files = _files(first.parent)
    assert [p.relative_to(first.parent) for p in files] == [
        p.relative_to(second.parent) for p in _files(second.parent)
    ]
    assert len(files) == 3 * 20 + 2
    for path in files:
        assert path.read_bytes() == (second.parent / path.relative_to(first.parent)).read_bytes()
    other = generate_polygons(tmp_path / "c", PolygonSpec(**TINY, seed=1))
    assert (other.parent / "images" / "00000.png").read_bytes() != (
        first.parent / "images" / "00000.png").read_bytes()


def test_second_call_regenerates_nothing_unless_spec_or_files_change(tmp_path):
    spec = PolygonSpec(**TINY)
    csv = generate_polygons(tmp_path, spec)
    mtimes = {path: path.stat().st_mtime_ns for path in _files(tmp_path)}
    assert generate_polygons(tmp_path, PolygonSpec(**{**TINY, "radius": [3, 7]})) == csv
    assert {path: path.stat().st_mtime_ns for path in _files(tmp_path)} == mtimes

    (tmp_path / "masks" / "00003.png").unlink()
    generate_polygons(tmp_path, spec)
    assert (tmp_path / "masks" / "00003.png").is_file()

    generate_polygons(tmp_path, PolygonSpec(**TINY, seed=5))
    assert "seed: 5" in (tmp_path / "spec.yaml").read_text()


def test_index_labels_are_balanced_and_match_the_masks(tmp_path):
    spec = PolygonSpec(**{**TINY, "n_train": 21}, positive_fraction=0.25)
    frame = read_index(generate_polygons(tmp_path, spec))
    counts = frame.groupby(["split", "label"]).size().to_dict()
    assert counts == {("train", "triangle"): 5, ("train", "no_triangle"): 16,
                      ("val", "triangle"): 1, ("val", "no_triangle"): 3,
                      ("test", "triangle"): 1, ("test", "no_triangle"): 3}
    for split in ("train", "val", "test"):
        dataset = IndexDataset(frame, split, image_size=32, classes=["no_triangle", "triangle"])
        for i in range(len(dataset)):
            item = dataset[i]
            assert item["has_mask"] and item["has_distractors"]
            assert bool(item["mask"].any()) == (item["label"].item() == 1)


def test_files_hold_the_rendered_sample(tmp_path):
    spec = PolygonSpec(**TINY)
    frame = pd.read_csv(generate_polygons(tmp_path, spec))
    dataset = IndexDataset(tmp_path / "index.csv", "train", image_size=32)
    for i in (0, 5):
        sample = render_polygon_sample(spec, i, frame.loc[i, "label"] == "triangle")
        item = dataset[i]
        assert torch.equal(item["image"], torch.from_numpy(sample.image).permute(2, 0, 1) / 255)
        assert torch.equal(item["mask"][0], torch.from_numpy(sample.target_mask > 0).float())
        assert torch.equal(item["distractors"][0],
                           torch.from_numpy(sample.distractor_mask > 0).float())


SPECS = [
    PolygonSpec(**TINY),
    PolygonSpec(**TINY, border_occlusion=True, colour=True, noise_std=0.1),
    PolygonSpec(**TINY, allow_overlap=True, objects_per_image=(4, 8), line_width=1),
    PolygonSpec(image_size=48, radius=(3, 8), outside_probability=1.0),
]


@pytest.mark.parametrize("spec", SPECS)
def test_every_target_outline_pixel_is_inside_the_target_mask(spec):
    for index in range(16):
        sample = render_polygon_sample(spec, index, has_target=index % 2 == 0)
        drawn = sample.target_drawing > 0
        assert set(np.unique(sample.target_mask)) <= {0, 255}
        assert drawn.any() == sample.has_target == sample.target_mask.any()
        assert not (drawn & (sample.target_mask == 0)).any()


def test_a_single_target_gets_its_tight_box():
    spec = PolygonSpec(**TINY, objects_per_image=(1, 1), border_occlusion=True)
    for index in range(10):
        sample = render_polygon_sample(spec, index, has_target=True)
        r0, r1, c0, c1 = _bbox(sample.target_drawing > 0)
        expected = np.zeros_like(sample.target_mask)
        expected[r0:r1 + 1, c0:c1 + 1] = 255
        assert np.array_equal(sample.target_mask, expected)
        assert not sample.distractor_mask.any()


def test_without_overlap_boxes_are_disjoint_and_cover_every_drawn_pixel():
    spec = PolygonSpec(**TINY, objects_per_image=(3, 6))
    for index in range(20):
        sample = render_polygon_sample(spec, index, has_target=index % 2 == 0)
        assert not ((sample.target_mask > 0) & (sample.distractor_mask > 0)).any()
        boxes = (sample.target_mask > 0) | (sample.distractor_mask > 0)
        assert not (sample.image.max(2)[~boxes]).any()
        assert np.array_equal(sample.image[..., 0], sample.image[..., 2])  # white on black


def test_border_occlusion_decides_whether_objects_touch_the_border():
    def touches_border(spec, index):
        image = render_polygon_sample(spec, index, has_target=True).image.max(2)
        return bool(image[[0, -1]].any() or image[:, [0, -1]].any())

    inside, occluded = PolygonSpec(**TINY), PolygonSpec(**TINY, border_occlusion=True)
    assert not any(touches_border(inside, i) for i in range(20))
    assert any(touches_border(occluded, i) for i in range(20))


def test_outside_polygon_surrounds_the_target():
    spec = PolygonSpec(image_size=48, radius=(3, 8), objects_per_image=(1, 1),
                       outside_probability=1.0)
    for index in range(10):
        sample = render_polygon_sample(spec, index, has_target=True)
        target, distractor = sample.target_mask > 0, sample.distractor_mask > 0
        assert (target <= distractor).all() and distractor.sum() > target.sum()


def test_outline_stays_inside_the_mask_after_augmentation():
    spec = PolygonSpec(**TINY)
    augment = make_augmentation(1.0, seed=0)
    for index in range(12):
        sample = render_polygon_sample(spec, index, has_target=True)
        out = augment(image=sample.image,
                      masks=[sample.target_mask // 255, sample.target_drawing // 255])
        mask, drawing = out["masks"]
        assert set(np.unique(mask)) <= {0, 1} and drawing.any()
        assert not (drawing.astype(bool) & (mask == 0)).any()


@pytest.mark.parametrize("change, message", [
    (dict(target=(2, 1)), "p must be >= 3"),
    (dict(target=(5, 3)), "q must satisfy"),
    (dict(target=(6, 2)), "coprime"),
    (dict(target=(-1, 2)), "circle"),
    (dict(target=(4, 1)), "also among the distractors"),
    (dict(distractors=()), "distractors is empty"),
    (dict(radius=(6, 40)), "too large for image_size 64"),
    (dict(radius=(10, 5)), "radius must be"),
    (dict(objects_per_image=(3, 2)), "objects_per_image must be"),
    (dict(outside_probability=0.5, radius=(6, 20)), "outside polygon radius"),
    (dict(positive_fraction=1.5), r"positive_fraction must be in \[0, 1\]"),
    (dict(n_train=0), "n_train must be >= 1"),
    (dict(target_name=" "), "target_name is empty"),
    (dict(background="grey"), "background must be one of"),
])
def test_bad_specs_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        PolygonSpec(**change)


def test_white_background_is_the_black_one_inverted():
    black, white = PolygonSpec(**TINY), PolygonSpec(**TINY, background="white")
    for index in range(3):
        a, b = render_polygon_sample(black, index, True), render_polygon_sample(white, index, True)
        assert np.array_equal(b.image, 255 - a.image)
        assert np.array_equal(a.target_mask, b.target_mask)


def test_spec_yaml_holds_the_every_object_reference_of_each_split(tmp_path):
    from xmllib.data.polygons import read_references
    from xmllib.metrics import every_object_heatmaps, summarise, target_selectivity

    csv = generate_polygons(tmp_path, PolygonSpec(**TINY, distractors=((-1, 1),)))
    references = read_references(tmp_path)
    index = read_index(csv)
    for split in ("train", "val", "test"):
        data = IndexDataset(index, split, 32)
        masks = torch.stack([data[i]["mask"] for i in range(len(data))])
        distractors = torch.stack([data[i]["distractors"] for i in range(len(data))])
        expected = summarise(target_selectivity(every_object_heatmaps(masks, distractors), masks, distractors))
        assert references[split] == pytest.approx(expected["mean"], abs=1e-4)
    mtimes = {path: path.stat().st_mtime_ns for path in _files(tmp_path)}
    generate_polygons(tmp_path, PolygonSpec(**TINY, distractors=((-1, 1),)))
    assert {path: path.stat().st_mtime_ns for path in _files(tmp_path)} == mtimes
