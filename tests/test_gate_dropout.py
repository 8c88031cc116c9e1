"""Gate dropout: random cells darkened outside the mask, a random level, only where chosen."""

import pytest
import torch

from xmllib.gate_dropout import GRID, LOWEST_LEVEL, drop_gate_regions


@pytest.fixture
def maps():
    heatmap = torch.full((64, 1, 32, 32), 0.8)
    masks = torch.zeros(64, 1, 32, 32)
    masks[::2, :, 4:12, 8:20] = 1.0  # every other image has a target box
    return heatmap, masks


def test_probability_zero_and_unknown_masks_leave_the_maps_alone(maps):
    heatmap, masks = maps
    valid = torch.ones(64, dtype=torch.bool)
    assert torch.equal(drop_gate_regions(heatmap, masks, valid, 0.0), heatmap)
    assert torch.equal(drop_gate_regions(heatmap, masks, torch.zeros(64, dtype=torch.bool), 1.0), heatmap)


def test_the_mask_keeps_its_level_share_and_cells_outside_it_go_dark(maps):
    heatmap, masks = maps
    generator = torch.Generator().manual_seed(0)
    dropped = drop_gate_regions(heatmap, masks, torch.ones(64, dtype=torch.bool), 1.0, generator)
    ratio = dropped / heatmap
    for i in range(64):
        level = ratio[i][masks[i] == 1].unique() if masks[i].any() else ratio[i].max().view(1)
        assert len(level) == 1 and LOWEST_LEVEL <= level.item() <= 1.0
        values = set(ratio[i].unique().tolist())
        assert values <= {0.0, level.item()}
        cell = 32 // GRID
        blocks = ratio[i, 0].unfold(0, cell, cell).unfold(1, cell, cell)
        outside = masks[i, 0].unfold(0, cell, cell).unfold(1, cell, cell).amax((-2, -1)) == 0
        assert (blocks.amax((-2, -1)) == blocks.amin((-2, -1)))[outside].all()
    shares = (ratio[1::2] > 0).float().mean((1, 2, 3))
    assert shares.min() < 0.3 and shares.max() > 0.7


def test_a_bad_probability_is_refused(maps):
    heatmap, masks = maps
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\], got 1.5"):
        drop_gate_regions(heatmap, masks, torch.ones(64, dtype=torch.bool), 1.5)
