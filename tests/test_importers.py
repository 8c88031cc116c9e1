"""Importers: folder layouts and Pascal VOC boxes into a CSV index, and a three-class run through the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from xmllib.cli import main
from xmllib.data import (
    DatasetError,
    folder_index,
    read_index,
    read_voc,
    render_boxes,
    voc_index,
    write_index,
    write_shapes_folder,
)
from xmllib.data.importers import largest_remainder, stratified_split

TINY = ["--preset", "tutorial", "--epochs", "1,1,1", "--min-steps", "0,0,0", "--image-size", "32",
        "--batch-size", "8", "--explainer-width", "4", "--device", "cpu"]


def _png(path, size=(6, 4), value=0, mode="RGB"):
    """A size = (width, height) PNG filled with value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)
    return path


def _voc(path, boxes, size=(10, 8)):
    """A Pascal VOC file with objects (name, xmin, ymin, xmax, ymax)."""
    objects = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
        f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for name, x0, y0, x1, y1 in boxes
    )
    size_tag = "" if size is None else f"<size><width>{size[0]}</width><height>{size[1]}</height></size>"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<annotation><filename>{path.stem}</filename>{size_tag}{objects}</annotation>")
    return path


@pytest.fixture
def class_layout(tmp_path):
    """ROOT/cat: 7 images (two with masks), ROOT/dog: 3 images, plus a text file and a mask without image."""
    root = tmp_path / "pets"
    for i in range(7):
        _png(root / "cat" / f"c{i}.png")
    for i in range(3):
        _png(root / "dog" / "sub" / f"d{i}.jpg")
    _png(root / "cat" / "c0_mask.png", mode="L")
    _png(root / "dog" / "sub" / "d1_mask.png", mode="L")
    _png(root / "dog" / "lost_mask.png", mode="L")
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


@pytest.mark.parametrize("n, weights, expected", [
    (7, (0.7, 0.15, 0.15), [5, 1, 1]),    # 4.9, 1.05, 1.05: the largest remainder (0.9) goes to train
    (3, (0.7, 0.15, 0.15), [2, 1, 0]),    # 2.1, 0.45, 0.45: one left over, the tie goes to val
    (8, (0.5, 0.25, 0.25), [4, 2, 2]),
    (10, (1 / 3, 1 / 3, 1 / 3), [4, 3, 3]),
])
def test_largest_remainder_by_hand(n, weights, expected):
    assert largest_remainder(n, np.array(weights)).tolist() == expected


def test_three_values_tie_break_in_split_order():
    assert largest_remainder(2, np.array([0.6, 0.2, 0.2])).tolist() == [1, 1, 0]   # 1.2, 0.4, 0.4
    assert largest_remainder(1, np.array([0.2, 0.4, 0.4])).tolist() == [0, 1, 0]


def test_folder_layout_becomes_an_index(class_layout):
    imported = folder_index(class_layout, ratios=(0.7, 0.15, 0.15), seed=0)
    frame = imported.index.set_index(imported.index["image"].map(lambda p: p.rsplit("/", 1)[-1]))
    assert sorted(frame.index) == sorted([f"c{i}.png" for i in range(7)] + [f"d{i}.jpg" for i in range(3)])
    assert frame.loc["c0.png", "mask"] == str(class_layout / "cat" / "c0_mask.png")
    assert frame.loc["d1.jpg", "mask"] == str(class_layout / "dog" / "sub" / "d1_mask.png")
    assert (frame["mask"] != "").sum() == 2
    assert frame.loc["d0.jpg", "label"] == "dog"
    counts = imported.index.groupby(["label", "split"]).size().to_dict()
    assert counts == {("cat", "train"): 5, ("cat", "val"): 1, ("cat", "test"): 1, ("dog", "train"): 2,
                      ("dog", "val"): 1}
    assert sorted(p.name for p in imported.unused) == ["lost_mask.png", "notes.txt"]


def test_split_draw_is_seeded(class_layout):
    def splits(seed):
        return folder_index(class_layout, seed=seed).index["split"].tolist()

    assert splits(0) == splits(0)
    assert any(splits(0) != splits(seed) for seed in range(1, 6))


def test_stratified_split_shuffles_within_each_class():
    labels = pd.Series(["a"] * 10 + ["b"] * 20)
    splits = stratified_split(labels, {"train": 0.5, "val": 0.5}, seed=3)
    assert splits[labels == "a"].value_counts().to_dict() == {"train": 5, "val": 5}
    assert splits[labels == "b"].value_counts().to_dict() == {"train": 10, "val": 10}
    assert splits[:10].tolist() != ["train"] * 5 + ["val"] * 5


def test_split_folders_are_kept_as_they_are(tmp_path):
    for split, n in (("train", 3), ("val", 2), ("test", 1)):
        for label in ("a", "b"):
            for i in range(n):
                _png(tmp_path / split / label / f"{label}{i}.png")
    frame = folder_index(tmp_path, ratios=(0.2, 0.4, 0.4)).index
    assert frame.groupby("split").size().to_dict() == {"train": 6, "val": 4, "test": 2}
    assert all(f"/{split}/{label}/" in image for image, label, split in frame[["image", "label", "split"]].values)


def test_missing_split_folders_are_drawn_from_train(tmp_path):
    for i in range(10):
        _png(tmp_path / "train" / "a" / f"{i}.png")
    _png(tmp_path / "test" / "a" / "t.png")
    frame = folder_index(tmp_path, ratios=(0.5, 0.25, 0.25)).index
    # train's 10 images split 0.5 : 0.25 (train : val), i.e. 6.67 : 3.33 -> 7 : 3
    assert frame.groupby("split").size().to_dict() == {"train": 7, "val": 3, "test": 1}


@pytest.mark.parametrize("make, message", [
    (lambda root: (_png(root / "train" / "a" / "1.png"), _png(root / "cats" / "2.png")), "mixes split folders"),
    (lambda root: (_png(root / "a" / "1.png"), _png(root / "loose.png")), "outside any class folder"),
    (lambda root: (root / "a").mkdir(parents=True), "no images"),
    (lambda root: _png(root / "val" / "a" / "1.png"), "no train folder"),
    (lambda root: (_png(root / "a" / "1_mask.png"), _png(root / "a" / "1_mask.jpg"), _png(root / "a" / "1.png")),
     "two masks for one image"),
])
def test_bad_layouts_are_named(tmp_path, make, message):
    make(tmp_path / "root")
    with pytest.raises(DatasetError, match=message):
        folder_index(tmp_path / "root")


@pytest.mark.parametrize("ratios", [(0.5, 0.5), (0.7, 0.2, 0.2), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1)])
def test_bad_ratios(class_layout, ratios):
    with pytest.raises(DatasetError, match="split ratios"):
        folder_index(class_layout, ratios=ratios)


def test_written_index_holds_relative_paths_and_reads_back(class_layout, tmp_path):
    imported = folder_index(class_layout)
    csv = write_index(imported.index, tmp_path / "elsewhere" / "index.csv")
    raw = pd.read_csv(csv, keep_default_na=False)
    assert raw["image"].str.startswith("../pets/").all()
    back = read_index(csv)
    pd.testing.assert_frame_equal(back[["image", "mask", "label", "split"]], imported.index)


def test_render_boxes_pixel_exact():
    mask = render_boxes((6, 5), [(1, 1, 2, 3), (5, 4, 9, 9)])  # 1-based, ends included; the second is clipped
    expected = np.zeros((5, 6), np.uint8)
    expected[0:3, 0:2] = 255
    expected[3:5, 4:6] = 255
    np.testing.assert_array_equal(mask, expected)


def test_read_voc_boxes_and_size(tmp_path):
    xml = _voc(tmp_path / "a.xml", [("horse", 2, 3, 5, 6), ("person", 1, 1, 1, 1)], size=(10, 8))
    annotation = read_voc(xml)
    assert annotation.size == (10, 8)
    assert annotation.boxes == [("horse", (2.0, 3.0, 5.0, 6.0)), ("person", (1.0, 1.0, 1.0, 1.0))]


@pytest.mark.parametrize("text, message", [
    ("<annotation><object><name>x</name></object></annotation>", "needs a <bndbox>"),
    ("<annotation><object><name>x</name><bndbox><xmin>a</xmin></bndbox></object></annotation>", "numeric"),
    ("<annotation", "cannot read the Pascal VOC file"),
])
def test_bad_voc_files_are_named(tmp_path, text, message):
    (tmp_path / "bad.xml").write_text(text)
    with pytest.raises(DatasetError, match=message):
        read_voc(tmp_path / "bad.xml")


@pytest.fixture
def voc_layout(tmp_path):
    """horse/h0 (two horse boxes and a person), horse/h1 (only a person), horse/h2 (no XML),
    zebra/z0 (XML at twice the image's size); annotations in their own folder."""
    root, notes = tmp_path / "images", tmp_path / "Annotation"
    for name in ("horse/h0", "horse/h1", "horse/h2", "zebra/z0"):
        _png(root / f"{name}.JPEG", size=(10, 8))
    _voc(notes / "horse" / "h0.xml", [("horse", 1, 1, 3, 2), ("horse", 8, 6, 10, 8), ("person", 4, 4, 6, 6)])
    _voc(notes / "horse" / "h1.xml", [("person", 4, 4, 6, 6)])
    _voc(notes / "zebra" / "z0.xml", [("zebra", 3, 3, 12, 8)], size=(20, 16))
    return root, notes


def _mask_of(frame, stem):
    path = frame.loc[frame["image"].str.contains(f"/{stem}."), "mask"].item()
    return path, (np.asarray(Image.open(path)) if path else None)


def test_voc_masks_are_rendered_pixel_exact(voc_layout, tmp_path):
    root, notes = voc_layout
    frame = voc_index(root, annotations=notes, masks=tmp_path / "masks").index
    path, h0 = _mask_of(frame, "h0")
    assert path == str(tmp_path / "masks" / "horse" / "h0_mask.png")
    expected = np.zeros((8, 10), np.uint8)
    expected[0:2, 0:3] = 255   # horse (1, 1, 3, 2)
    expected[5:8, 7:10] = 255  # horse (8, 6, 10, 8); the person box is not drawn
    np.testing.assert_array_equal(h0, expected)
    assert not _mask_of(frame, "h1")[1].any()   # annotated, but no horse: an empty mask
    assert _mask_of(frame, "h2")[0] == ""        # no XML file: no mask
    expected = np.zeros((8, 10), np.uint8)
    expected[1:4, 1:6] = 255   # zebra (3, 3, 12, 8) drawn at 20 x 16, resized to 10 x 8
    np.testing.assert_array_equal(_mask_of(frame, "z0")[1], expected)


def test_voc_objects_named_on_the_command_line(voc_layout):
    root, notes = voc_layout
    frame = voc_index(root, annotations=notes, objects=["person"]).index
    path, h1 = _mask_of(frame, "h1")
    assert path == str(root / "horse" / "h1_mask.png")   # beside the image by default
    expected = np.zeros((8, 10), np.uint8)
    expected[3:6, 3:6] = 255
    np.testing.assert_array_equal(h1, expected)
    assert not _mask_of(frame, "z0")[1].any()


def test_voc_file_without_size_draws_at_the_image_size(tmp_path):
    _png(tmp_path / "images" / "cat" / "c.png", size=(5, 3))
    _voc(tmp_path / "images" / "cat" / "c.xml", [("cat", 2, 2, 9, 9)], size=None)
    frame = voc_index(tmp_path / "images").index
    expected = np.zeros((3, 5), np.uint8)
    expected[1:, 1:] = 255
    np.testing.assert_array_equal(_mask_of(frame, "c")[1], expected)


def test_voc_objects_absent_from_every_file_are_an_error(voc_layout):
    root, notes = voc_layout
    with pytest.raises(DatasetError, match=r"no box of the objects \['donkey'\].*\['horse', 'person', 'zebra'\]"):
        voc_index(root, annotations=notes, objects=["donkey"])


def test_voc_without_annotations_is_an_error(tmp_path):
    _png(tmp_path / "a" / "1.png")
    with pytest.raises(DatasetError, match="no Pascal VOC .xml files"):
        voc_index(tmp_path)


def test_shapes_folder_is_reproducible_and_masks_cover_the_shapes(tmp_path):
    first = write_shapes_folder(tmp_path / "a", n_per_class=2, image_size=16, seed=1)
    second = write_shapes_folder(tmp_path / "b", n_per_class=2, image_size=16, seed=1)
    for shape in ("circle", "square", "stripes"):
        for name in ("000.png", "001_mask.png"):
            assert np.array_equal(np.asarray(Image.open(first / shape / name)),
                                  np.asarray(Image.open(second / shape / name)))
        image = np.asarray(Image.open(first / shape / "000.png")).max(axis=2)
        mask = np.asarray(Image.open(first / shape / "000_mask.png")) > 0
        assert image[mask].max() >= 150 and (image[~mask] < 150).mean() > 0.99


def test_cli_voc_and_folder_commands(voc_layout, tmp_path, capsys):
    root, notes = voc_layout
    assert main(["data", "voc", str(root), "--annotations", str(notes), "--out", str(tmp_path / "voc.csv"),
                 "--ratios", "0.5,0.25,0.25"]) == 0
    out = capsys.readouterr().out
    assert "data summary" in out and "empty_mask" in out
    frame = read_index(tmp_path / "voc.csv")
    assert (frame["mask"] != "").sum() == 3
    assert main(["data", "folder", str(root)]) == 0   # the masks written beside the images are found
    assert ((read_index(root / "index.csv")["mask"] != "").sum()) == 3


def test_three_class_run_through_the_cli(tmp_path, capsys):
    root = write_shapes_folder(tmp_path / "shapes", n_per_class=12, image_size=32)
    assert main(["data", "folder", str(root), "--ratios", "0.5,0.25,0.25"]) == 0
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(root / "index.csv"), "--out", str(run), *TINY,
                 "--class-weights", "inverse"]) == 0
    printed = capsys.readouterr().out
    assert "class weights: circle 1, square 1, stripes 1" in printed
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test_auc"] <= 1.0 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert {"roc_pr.png", "explanations.png", "data_summary.csv", "class_weights.json"} <= {
        p.name for p in run.iterdir()}
    assert json.loads((run / "class_weights.json").read_text()) == {"circle": 1.0, "square": 1.0, "stripes": 1.0}
    summary = pd.read_csv(run / "data_summary.csv")
    assert summary["images"].iloc[-1] == 36
    assert main(["test", str(run / "model.pt"), "--dataset", str(root / "index.csv")]) == 0
    assert json.loads(capsys.readouterr().out)["test_accuracy"] == metrics["test_accuracy"]
