"""Tests of the gate and of GatedClassifier on ResNets, the small VGG and a non-ResNet CNN."""

from copy import deepcopy

import pytest
import torch
import torchvision
from torch import nn

from xmllib.models import (
    GatedClassifier,
    gate,
    resnet_classifier,
    resnet_gate_names,
    vgg_classifier,
)


def pooled_by_hand(heatmap: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Average of the heatmap over each (H / height) x (W / width) cell, by reshape and mean."""
    batch, _, full_height, full_width = heatmap.shape
    cells = heatmap.reshape(batch, 1, height, full_height // height, width, full_width // width)
    return cells.mean(dim=(3, 5))


def capture_gates(classifier: GatedClassifier) -> tuple[dict, dict, list]:
    """Hooks recording each gated module's output before (raw) and after (gated) its gate."""
    raw, gated = {}, {}
    modules = dict(classifier.backbone.named_modules())
    handles = []
    for name in classifier.gate_names:
        handles.append(
            modules[name].register_forward_hook(lambda m, i, o, name=name: raw.__setitem__(name, o), prepend=True)
        )
        handles.append(modules[name].register_forward_hook(lambda m, i, o, name=name: gated.__setitem__(name, o)))
    return raw, gated, handles


GATED_NETWORKS = {
    "resnet18 block": lambda: resnet_classifier("resnet18", 3, gates="block"),
    "resnet18 stage": lambda: resnet_classifier("resnet18", 3, gates="stage"),
    "vgg": lambda: vgg_classifier(3, width=4),
    "mobilenet_v3_small": lambda: GatedClassifier(
        torchvision.models.mobilenet_v3_small(num_classes=3), ["features.0", "features.1", "features.3", "features.8"]
    ),
}


@pytest.mark.parametrize("network", GATED_NETWORKS)
def test_every_gate_multiplies_by_the_average_pooled_heatmap(network):
    torch.manual_seed(0)
    classifier = GATED_NETWORKS[network]().eval()
    raw, gated, _ = capture_gates(classifier)
    heatmap = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        classifier(torch.randn(2, 3, 32, 32), heatmap)
    assert list(gated) == classifier.gate_names
    for name in classifier.gate_names:
        expected = raw[name] * pooled_by_hand(heatmap, *raw[name].shape[-2:])
        torch.testing.assert_close(gated[name], expected, rtol=1e-5, atol=1e-6)


def test_gated_output_feeds_the_next_block():
    torch.manual_seed(0)
    classifier = resnet_classifier("resnet18", 2, gates="block").eval()
    _, gated, _ = capture_gates(classifier)
    seen = {}
    classifier.backbone.layer1[1].register_forward_pre_hook(lambda m, inputs: seen.__setitem__("input", inputs[0]))
    with torch.no_grad():
        classifier(torch.randn(2, 3, 32, 32), torch.rand(2, 1, 32, 32))
    assert torch.equal(seen["input"], gated["layer1.0"])


def test_gate_function_matches_a_hand_computed_example():
    features = torch.arange(2 * 2 * 2 * 2, dtype=torch.float32).reshape(2, 2, 2, 2)
    heatmap = torch.zeros(2, 1, 4, 4)
    heatmap[0, 0, :2, :2] = 1.0
    heatmap[1, 0, 0, 3] = 1.0
    gates = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.25], [0.0, 0.0]]]).unsqueeze(1)
    assert torch.equal(gate(features, heatmap), features * gates)


def test_gate_rejects_a_multichannel_heatmap():
    with pytest.raises(ValueError, match="B x 1 x H x W"):
        gate(torch.rand(1, 4, 2, 2), torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize("gates", ["block", "stage"])
def test_all_ones_heatmap_gives_the_ungated_torchvision_logits(gates):
    torch.manual_seed(0)
    classifier = resnet_classifier("resnet18", 3, gates=gates).eval()
    plain = torchvision.models.resnet18(num_classes=3).eval()
    plain.load_state_dict(classifier.backbone.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(classifier(x, torch.ones(2, 1, 32, 32)), plain(x))


def test_all_ones_heatmap_gives_the_ungated_logits_of_a_non_resnet():
    torch.manual_seed(0)
    classifier = GATED_NETWORKS["mobilenet_v3_small"]().eval()
    plain = torchvision.models.mobilenet_v3_small(num_classes=3).eval()
    plain.load_state_dict(classifier.backbone.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(classifier(x, torch.ones(2, 1, 32, 32)), plain(x))


def test_zero_heatmap_leaves_only_the_resnet_head_bias():
    torch.manual_seed(0)
    classifier = resnet_classifier("resnet18", 3).eval()
    with torch.no_grad():
        logits = classifier(torch.randn(2, 3, 32, 32), torch.zeros(2, 1, 32, 32))
    assert torch.equal(logits, classifier.backbone.fc.bias.expand(2, 3))


def test_zero_heatmap_changes_the_vgg_logits():
    torch.manual_seed(0)
    classifier = vgg_classifier(3, width=4).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ones = classifier(x, torch.ones(2, 1, 32, 32))
        zeros = classifier(x, torch.zeros(2, 1, 32, 32))
    assert not torch.allclose(ones, zeros)


def test_gradients_reach_the_heatmap_and_no_grad_gives_the_same_logits():
    torch.manual_seed(0)
    classifier = vgg_classifier(2, width=4).eval()
    x = torch.randn(2, 3, 32, 32)
    heatmap = torch.rand(2, 1, 32, 32, requires_grad=True)
    logits = classifier(x, heatmap)
    logits.sum().backward()
    assert heatmap.grad is not None and heatmap.grad.abs().sum() > 0
    with torch.no_grad():
        again = classifier(x, heatmap)
    assert not again.requires_grad
    assert torch.equal(again, logits.detach())


def test_heatmap_is_not_kept_after_forward_even_when_it_fails():
    classifier = vgg_classifier(2, width=4)
    with pytest.raises(RuntimeError):
        classifier(torch.rand(1, 4, 16, 16), torch.rand(1, 1, 16, 16))
    with pytest.raises(RuntimeError, match="outside GatedClassifier.forward"):
        classifier.backbone(torch.rand(1, 3, 16, 16))


def test_gate_counts_of_resnet18():
    assert len(resnet_gate_names("resnet18", "block")) == 9
    assert resnet_gate_names("resnet18", "stage") == ["maxpool", "layer1", "layer2", "layer3", "layer4"]
    assert resnet_gate_names("resnet18", "block")[:3] == ["maxpool", "layer1.0", "layer1.1"]
    assert len(resnet_gate_names("resnet50", "block")) == 1 + 3 + 4 + 6 + 3


def test_unknown_gate_name_lists_valid_names():
    backbone = torchvision.models.mobilenet_v3_small(num_classes=2)
    with pytest.raises(ValueError, match=r"features\.30.*features\.3"):
        GatedClassifier(backbone, ["features.1", "features.30"])


def test_repeated_gate_name_is_rejected():
    backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with pytest.raises(ValueError, match="more than once"):
        GatedClassifier(backbone, ["0", "0"])


def test_heatmap_with_wrong_batch_size_is_rejected():
    classifier = vgg_classifier(2, width=4)
    with pytest.raises(ValueError, match="batch size B = 2"):
        classifier(torch.rand(2, 3, 16, 16), torch.rand(1, 1, 16, 16))


def test_classifier_rejects_sizes_its_backbone_cannot_align():
    classifier = resnet_classifier("resnet18", 2)
    with pytest.raises(ValueError, match=r"divisible by 32.*height 32 or 64"):
        classifier(torch.rand(1, 3, 48, 32), torch.rand(1, 1, 48, 32))


def test_a_deep_copy_gates_with_its_own_heatmap():
    torch.manual_seed(0)
    copy = deepcopy(resnet_classifier("resnet18", 3)).eval()
    with torch.no_grad():
        logits = copy(torch.randn(2, 3, 32, 32), torch.zeros(2, 1, 32, 32))
    assert torch.equal(logits, copy.backbone.fc.bias.expand(2, 3))
