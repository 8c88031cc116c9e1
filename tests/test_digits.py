"""The handwritten-digits folder: balanced labels, masks on the target's ink, disjoint pools, determinism."""

import numpy as np
import pytest
from PIL import Image

from xmllib.data import folder_index
from xmllib.data.digits import CANVAS, write_digits_folder


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits_folder(tmp_path_factory.mktemp("digits"), counts=(12, 4, 6), image_size=32)


def test_layout_imports_with_balanced_labels_and_masks(digits):
    index = folder_index(digits).index
    counts = index.groupby(["split", "label"]).size().to_dict()
    assert counts == {("test", "no_three"): 3, ("test", "three"): 3, ("train", "no_three"): 6,
                      ("train", "three"): 6, ("val", "no_three"): 2, ("val", "three"): 2}
    assert (index["mask"] != "").all()


def test_positive_masks_box_dark_ink_and_negative_masks_are_empty(digits):
    for label, positive in (("three", True), ("no_three", False)):
        for path in sorted((digits / "train" / label).glob("*_mask.png")):
            mask = np.asarray(Image.open(path)) > 127
            image = np.asarray(Image.open(str(path).replace("_mask", "")))[..., 0]
            assert mask.any() == positive
            if positive:
                assert image[mask].min() < CANVAS / 2


def test_same_seed_same_files(digits, tmp_path):
    again = write_digits_folder(tmp_path, counts=(12, 4, 6), image_size=32)
    for path in sorted(digits.rglob("*.png")):
        assert path.read_bytes() == (again / path.relative_to(digits)).read_bytes()


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="target digit 0-9"):
        write_digits_folder(tmp_path, target=12)
