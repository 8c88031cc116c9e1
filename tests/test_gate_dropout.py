"""Gate dropout: random cells darkened outside the mask, a random level from half to white, only where chosen."""

import pytest
import torch

from xmllib.gate_dropout import GRID, LOWEST_LEVEL, drop_gate_regions

LEVEL = 0.25


@pytest.fixture
def maps():
    heatmap = torch.full((64, 1, 32, 32), LEVEL)
    masks = torch.zeros(64, 1, 32, 32)
    masks[::2, :, 4:12, 8:20] = 1.0  # every other image has a target box
    return heatmap, masks


def test_probability_zero_and_unknown_masks_leave_the_maps_alone(maps):
    heatmap, masks = maps
    valid = torch.ones(64, dtype=torch.bool)
    assert torch.equal(drop_gate_regions(heatmap, masks, valid, 0.0), heatmap)
    assert torch.equal(drop_gate_regions(heatmap, masks, torch.zeros(64, dtype=torch.bool), 1.0), heatmap)


def test_the_mask_keeps_one_level_and_whole_cells_outside_it_go_dark(maps):
    heatmap, masks = maps
    dropped = drop_gate_regions(heatmap, masks, torch.ones(64, dtype=torch.bool), 1.0,
                                torch.Generator().manual_seed(0))
    cell = 32 // GRID
    for image, mask in zip(dropped[:, 0], masks[:, 0]):
        lit = image.max()
        assert LOWEST_LEVEL * LEVEL - 1e-6 <= lit <= 1.0
        assert set(image.unique().tolist()) <= {0.0, lit.item()}
        if mask.any():
            assert (image[mask == 1] == lit).all()
        blocks = image.unfold(0, cell, cell).unfold(1, cell, cell)
        outside = mask.unfold(0, cell, cell).unfold(1, cell, cell).amax((-2, -1)) == 0
        assert (blocks.amax((-2, -1)) == blocks.amin((-2, -1)))[outside].all()
    shares = (dropped[1::2] > 0).float().mean((1, 2, 3))
    assert shares.min() < 0.3 and shares.max() > 0.7


def test_the_level_is_drawn_from_half_the_maps_up_to_white(maps):
    heatmap, masks = maps
    dropped = drop_gate_regions(heatmap, torch.ones_like(masks), torch.ones(64, dtype=torch.bool), 1.0,
                                torch.Generator().manual_seed(1))
    levels = dropped.amax((1, 2, 3))
    assert levels.min() >= LOWEST_LEVEL * LEVEL - 1e-6 and levels.max() <= 1.0
    assert (levels < LEVEL).any() and (levels > 3 * LEVEL).any()


def test_a_bad_probability_is_refused(maps):
    heatmap, masks = maps
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\], got 1.5"):
        drop_gate_regions(heatmap, masks, torch.ones(64, dtype=torch.bool), 1.5)
