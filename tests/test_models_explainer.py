"""Tests of the Explainer U-Net and the image size check."""

import pytest
import torch

from xmllib.models import Explainer
from xmllib.models.explainer import check_divisible_size


def test_new_explainer_gives_white_heatmaps_in_eval_mode():
    torch.manual_seed(0)
    explainer = Explainer(width=8, init_bias=3.0).eval()
    with torch.no_grad():
        heatmap = explainer(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert heatmap.shape == (2, 1, 32, 32)
    assert heatmap.min() > 0.99
    assert heatmap.max() < 1.0


def test_negative_init_bias_gives_black_heatmaps():
    torch.manual_seed(0)
    explainer = Explainer(width=8, init_bias=-3.0).eval()
    with torch.no_grad():
        heatmap = explainer(torch.rand(2, 3, 16, 24))
    assert torch.equal(heatmap, torch.zeros(2, 1, 16, 24))


def test_heatmap_range_in_train_mode_spans_zero_to_below_one():
    torch.manual_seed(0)
    explainer = Explainer(width=8, init_bias=0.0).train()
    heatmap = explainer(torch.randn(2, 3, 32, 40))
    assert heatmap.shape == (2, 1, 32, 40)
    assert heatmap.min() == 0.0
    assert 0.0 < heatmap.max() < 1.0


def test_explainer_layout_matches_the_method():
    explainer = Explainer(width=32)
    assert explainer.enc1[0].in_channels == 3 and explainer.enc1[0].out_channels == 32
    assert explainer.enc3[2].out_channels == 128
    assert (explainer.up3.in_channels, explainer.up3.out_channels) == (128, 128)
    assert (explainer.up2.in_channels, explainer.up2.out_channels) == (128, 64)
    assert (explainer.up1.in_channels, explainer.up1.out_channels) == (64, 32)
    assert explainer.dec1[2].out_channels == 32 and explainer.to_heatmap.out_channels == 1
    assert explainer.norm.bias.item() == 3.0


@pytest.mark.parametrize("height, width", [(30, 64), (64, 36), (4, 12)])
def test_explainer_rejects_sizes_not_divisible_by_8(height, width):
    with pytest.raises(ValueError, match=rf"{height} x {width}.*divisible by 8"):
        Explainer(width=4)(torch.rand(1, 3, height, width))


def test_size_error_suggests_nearest_valid_sizes():
    with pytest.raises(ValueError, match=r"height 24 or 32, width 64$"):
        check_divisible_size(30, 64, 8, "the explainer")
    with pytest.raises(ValueError, match=r"height 8, width 8 or 16$"):
        check_divisible_size(4, 12, 8, "the explainer")


def test_valid_size_passes_the_check():
    check_divisible_size(64, 96, 32, "the classifier")


def test_sigmoid_head_starts_at_the_sigmoid_of_init_bias_and_has_no_batchnorm():
    torch.manual_seed(0)
    explainer = Explainer(width=8, init_bias=3.0, head="sigmoid")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in explainer.modules())
    assert explainer.to_heatmap.bias.item() == 3.0
    explainer.to_heatmap.weight.data.zero_()
    heatmaps = [explainer.train(mode)(torch.rand(2, 3, 16, 16)) for mode in (True, False)]
    for heatmap in heatmaps:
        assert torch.allclose(heatmap, torch.full_like(heatmap, torch.sigmoid(torch.tensor(3.0)).item()))


def test_sigmoid_head_passes_a_gradient_where_the_paper_head_passes_none():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 16, 16)
    for head, expect_dead in (("tanh_relu", True), ("sigmoid", False)):
        explainer = Explainer(width=4, init_bias=-3.0, head=head).eval()
        explainer(images).sum().backward()
        dead = explainer.to_heatmap.weight.grad.abs().max().item() == 0.0
        assert dead == expect_dead, head


def test_clamp_head_is_the_pre_activation_clamped_to_0_1_with_slope_one_inside():
    explainer = Explainer(width=4, init_bias=0.3, head="clamp").eval()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in explainer.modules())
    assert explainer.initial_level() == pytest.approx(0.3)
    pre = torch.tensor([-0.5, 0.01, 0.2, 0.9, 1.7], requires_grad=True)
    out = explainer.clip(explainer.squash(explainer.norm(pre)))
    assert out.tolist() == pytest.approx([0.0, 0.01, 0.2, 0.9, 1.0])
    out.sum().backward()
    assert pre.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert explainer.active_range == (0.0, 1.0)
    with explainer.capture_preactivation() as captured:
        heatmap = explainer(torch.rand(2, 3, 16, 16))
    assert torch.equal(heatmap, captured[0].clamp(0.0, 1.0))


def test_unknown_head_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown explainer head 'relu'.*tanh_relu.*sigmoid"):
        Explainer(head="relu")
