"""Tests of the small VGG classifier."""

import math

import pytest
import torch
from torch import nn

from xmllib.models import SmallVGG, vgg_classifier


def test_small_vgg_layout_matches_the_original():
    vgg = SmallVGG(num_classes=5)
    assert [stage[0].out_channels for stage in (vgg.stage1, vgg.stage2, vgg.stage3, vgg.stage4)] == [32, 64, 128, 256]
    linears = [module for module in vgg.head if isinstance(module, nn.Linear)]
    assert [(linear.in_features, linear.out_features) for linear in linears] == [(256, 128), (128, 128), (128, 5)]
    assert [type(module) for module in vgg.head][1:] == [
        nn.Linear, nn.Sigmoid, nn.Dropout, nn.Linear, nn.Sigmoid, nn.Dropout, nn.Linear
    ]
    assert all(module.p == 0.3 for module in vgg.head if isinstance(module, nn.Dropout))
    assert isinstance(vgg.global_pool, nn.AdaptiveMaxPool2d)


@pytest.mark.parametrize("size", [16, 48, 224])
def test_global_pool_adapts_to_the_image_size(size):
    classifier = vgg_classifier(3, width=4).eval()
    with torch.no_grad():
        logits = classifier(torch.rand(2, 3, size, size), torch.rand(2, 1, size, size))
    assert logits.shape == (2, 3)


def test_vgg_gates_after_each_of_the_four_stages():
    classifier = vgg_classifier(2, width=4)
    assert classifier.gate_names == ["stage1", "stage2", "stage3", "stage4"]
    assert classifier.size_divisor == 16


def test_initialisation_is_kaiming_for_convolutions_and_xavier_for_linear_layers():
    torch.manual_seed(0)
    vgg = SmallVGG(num_classes=2)
    conv = vgg.stage4[2]
    fan_in = conv.in_channels * 9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
    fc = vgg.head[1]
    bound = math.sqrt(6 / (fc.in_features + fc.out_features))
    assert fc.weight.abs().max().item() <= bound
    assert fc.weight.abs().max().item() > 0.95 * bound
    biases = [module.bias for module in vgg.modules() if isinstance(module, (nn.Conv2d, nn.Linear))]
    assert all(torch.equal(bias, torch.zeros_like(bias)) for bias in biases)
