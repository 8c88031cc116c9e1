"""Tests of the captum-safe gated ResNets and their pretrained weights."""

import urllib.error

import pytest
import torch
import torchvision

from xmllib.models import PretrainedWeightsError, resnet_classifier, resnet_gate_names


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_state_dict_keys_and_shapes_match_torchvision(name):
    ours = resnet_classifier(name, 1000).backbone.state_dict()
    theirs = getattr(torchvision.models, name)().state_dict()
    assert {key: value.shape for key, value in ours.items()} == {key: value.shape for key, value in theirs.items()}


def test_resnet50_gives_torchvision_logits_with_an_all_ones_heatmap():
    torch.manual_seed(0)
    classifier = resnet_classifier("resnet50", 2).eval()
    plain = torchvision.models.resnet50(num_classes=2).eval()
    plain.load_state_dict(classifier.backbone.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(classifier(x, torch.ones(1, 1, 32, 32)), plain(x))


def test_gate_names_exist_in_every_resnet():
    for name in ["resnet18", "resnet34", "resnet50"]:
        for gates in ["block", "stage"]:
            assert resnet_classifier(name, 2, gates=gates).gate_names == resnet_gate_names(name, gates)


def test_unknown_resnet_or_gating_is_rejected():
    with pytest.raises(ValueError, match="resnet18"):
        resnet_gate_names("resnet101", "block")
    with pytest.raises(ValueError, match="'block', 'stage'"):
        resnet_gate_names("resnet18", "layer")


def test_pretrained_from_a_state_dict_file(tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save(reference, path)
    loaded = resnet_classifier("resnet18", 3, pretrained=str(path)).backbone.state_dict()
    for key, value in reference.items():
        if not key.startswith("fc."):
            assert torch.equal(loaded[key], value), key
    assert loaded["fc.weight"].shape == (3, 512)
    assert loaded["fc.bias"].shape == (3,)


def test_pretrained_true_loads_torchvision_default_weights(monkeypatch):
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().state_dict()
    urls = []

    def fake_download(weights, **kwargs):
        urls.append(weights.url)
        return reference

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", fake_download)
    loaded = resnet_classifier("resnet18", 2, pretrained=True).backbone.state_dict()
    assert urls == [torchvision.models.ResNet18_Weights.DEFAULT.url]
    assert torch.equal(loaded["layer4.1.conv2.weight"], reference["layer4.1.conv2.weight"])
    assert loaded["fc.weight"].shape == (2, 512)


def test_pretrained_true_without_network_explains_what_to_do(monkeypatch):
    def no_network(weights, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", no_network)
    url = torchvision.models.ResNet34_Weights.DEFAULT.url
    with pytest.raises(PretrainedWeightsError, match=rf"could not download.*no network.*{url}.*checkpoints"):
        resnet_classifier("resnet34", 2, pretrained=True)


def test_state_dict_of_another_resnet_is_rejected(tmp_path):
    path = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34().state_dict(), path)
    with pytest.raises(ValueError, match=r"unexpected keys \['layer1.2.bn1.bias'"):
        resnet_classifier("resnet18", 2, pretrained=path)


def test_state_dict_with_missing_or_misshapen_keys_is_rejected(tmp_path):
    state = torchvision.models.resnet18().state_dict()
    del state["layer2.0.downsample.0.weight"]
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    expected = r"missing keys \['layer2.0.downsample.0.weight'\].*shape mismatches \['conv1.weight'\]"
    with pytest.raises(ValueError, match=expected):
        resnet_classifier("resnet18", 2, pretrained=path)


def test_file_without_a_state_dict_is_rejected(tmp_path):
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(ValueError, match="not a state dict"):
        resnet_classifier("resnet18", 2, pretrained=path)
    with pytest.raises(PretrainedWeightsError, match="missing.pth does not exist"):
        resnet_classifier("resnet18", 2, pretrained=tmp_path / "missing.pth")


def test_state_dict_without_batchnorm_counters_loads(tmp_path):
    full = torchvision.models.resnet18().state_dict()
    state = {key: value for key, value in full.items() if not key.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path)
    loaded = resnet_classifier("resnet18", 2, pretrained=path).backbone.state_dict()
    assert torch.equal(loaded["bn1.running_var"], state["bn1.running_var"])
