"""xmllib.assembly: a Config's loaders, here those over the first images of the train split."""

import pytest
import torch

from xmllib.assembly import loaders_from_config
from xmllib.data import read_index


def test_n_train_keeps_the_first_train_images_and_every_other_split(tiny_index, tiny_config):
    index = read_index(tiny_index)
    first = loaders_from_config(tiny_index, tiny_config, n_train=5)
    whole = loaders_from_config(index, tiny_config)
    assert len(first["train"].dataset) == 5 and len(whole["train"].dataset) == int((index["split"] == "train").sum())
    for i in range(5):
        assert torch.equal(first["train"].dataset[i]["image"], whole["train"].dataset[i]["image"])
    for split in ("val", "test"):
        assert len(first[split].dataset) == len(whole[split].dataset) == int((index["split"] == split).sum())


def test_n_train_must_keep_an_image(tiny_index, tiny_config):
    with pytest.raises(ValueError, match="n_train is the number of training images to keep and must be >= 1, got 0"):
        loaders_from_config(tiny_index, tiny_config, n_train=0)
