"""Tests of the joint ExplainerClassifier, build_model and captum compatibility."""

import math

import pytest
import torch
import torchvision
from captum.attr import LRP, Deconvolution, DeepLift, GuidedBackprop
from torch import nn

from xmllib.models import (
    CLASSIFIERS,
    Explainer,
    ExplainerClassifier,
    GatedClassifier,
    build_model,
    resnet_gate_names,
    vgg_classifier,
)


class LogitsOf(nn.Module):
    """The one-input, one-output module post-hoc methods need: x -> logits of the joint model."""

    def __init__(self, model: ExplainerClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0]


def small_joint_model() -> ExplainerClassifier:
    return ExplainerClassifier(
        Explainer(width=4), vgg_classifier(3, width=4), mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0)
    )


def test_forward_normalises_then_explains_then_classifies():
    torch.manual_seed(0)
    model = small_joint_model().eval()
    x = torch.rand(2, 3, 32, 32)
    by_hand = torch.stack([(x[:, c] - m) / s for c, m, s in zip(range(3), (0.1, 0.2, 0.3), (0.5, 0.25, 2.0))], dim=1)
    with torch.no_grad():
        logits, heatmap = model(x)
        expected_heatmap = model.explainer(by_hand)
        expected_logits = model.classifier(by_hand, expected_heatmap)
    torch.testing.assert_close(heatmap, expected_heatmap)
    torch.testing.assert_close(logits, expected_logits)
    assert heatmap.shape == (2, 1, 32, 32) and logits.shape == (2, 3)


def test_mean_and_std_are_saved_buffers():
    state = small_joint_model().state_dict()
    assert state["mean"].flatten().tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert state["std"].flatten().tolist() == pytest.approx([0.5, 0.25, 2.0])


def test_bad_mean_or_std_is_rejected():
    with pytest.raises(ValueError, match="3 values"):
        ExplainerClassifier(Explainer(width=4), vgg_classifier(2, width=4), mean=(0.5, 0.5))
    with pytest.raises(ValueError, match="std > 0"):
        ExplainerClassifier(Explainer(width=4), vgg_classifier(2, width=4), std=(0.5, 0.0, 0.5))


@pytest.mark.parametrize(
    "classifier, height, width, message",
    [
        (
            "resnet18",
            48,
            64,
            r"48 x 64.*divisible by 32 for the explainer \(8\) and the classifier \(32\).*height 32 or 64, width 64$",
        ),
        ("vgg", 40, 24, r"40 x 24.*divisible by 16.*height 32 or 48, width 16 or 32$"),
    ],
)
def test_input_size_error_names_the_divisor_and_nearest_sizes(classifier, height, width, message):
    model = build_model(classifier, 2, explainer_width=4)
    with pytest.raises(ValueError, match=message):
        model.check_input_size(height, width)
    with pytest.raises(ValueError, match=message):
        model(torch.rand(1, 3, height, width))


def test_input_that_is_not_an_rgb_batch_is_rejected():
    with pytest.raises(ValueError, match="B x 3 x H x W"):
        small_joint_model()(torch.rand(3, 32, 32))


def test_gradients_of_the_classification_loss_reach_explainer_and_classifier():
    torch.manual_seed(0)
    model = build_model("resnet18", 2, explainer_width=4).train()
    logits, _ = model(torch.rand(2, 3, 32, 32))
    nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    for part in (model.explainer, model.classifier):
        grads = [parameter.grad for parameter in part.parameters()]
        assert all(grad is not None and torch.isfinite(grad).all() for grad in grads)
    assert model.explainer.enc1[0].weight.grad.abs().sum() > 0
    assert model.classifier.backbone.conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("classifier", CLASSIFIERS)
def test_every_relu_is_its_own_non_inplace_module(classifier):
    model = build_model(classifier, 2, explainer_width=4).eval()
    relus = [module for module in model.modules() if isinstance(module, nn.ReLU)]
    calls = {id(relu): 0 for relu in relus}
    for relu in relus:
        relu.register_forward_hook(lambda module, i, o: calls.__setitem__(id(module), calls[id(module)] + 1))
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 32))
    assert not any(relu.inplace for relu in relus)
    assert set(calls.values()) == {1}


@pytest.mark.parametrize("classifier", ["resnet18", "vgg"])
@pytest.mark.parametrize("method", [GuidedBackprop, Deconvolution, DeepLift])
def test_captum_attributions_run_through_the_joint_model(classifier, method):
    torch.manual_seed(0)
    model = build_model(classifier, 3, explainer_width=4).eval()
    attributions = method(LogitsOf(model)).attribute(torch.rand(2, 3, 32, 32), target=1)
    assert attributions.shape == (2, 3, 32, 32)
    assert torch.isfinite(attributions).all() and attributions.abs().sum() > 0


def test_lrp_runs_through_the_gated_resnet18():
    torch.manual_seed(0)
    classifier = build_model("resnet18", 3).classifier.eval()
    heatmap = torch.rand(2, 1, 32, 32)
    attributions = LRP(classifier).attribute(torch.rand(2, 3, 32, 32), target=1, additional_forward_args=(heatmap,))
    assert attributions.shape == (2, 3, 32, 32)
    assert torch.isfinite(attributions).all()


def test_deeplift_rejects_torchvisions_inplace_resnet():
    """The control: the captum check above fails on torchvision's own blocks."""
    classifier = GatedClassifier(torchvision.models.resnet18(num_classes=3), resnet_gate_names("resnet18")).eval()
    with pytest.raises(RuntimeError, match="used more than once"):
        DeepLift(classifier).attribute(
            torch.rand(2, 3, 32, 32), target=1, additional_forward_args=(torch.rand(2, 1, 32, 32),)
        )


@pytest.mark.parametrize("classifier", CLASSIFIERS)
def test_build_model_for_every_classifier(classifier):
    torch.manual_seed(0)
    model = build_model(classifier, 4, explainer_width=4, init_bias=3.0).eval()
    with torch.no_grad():
        logits, heatmap = model(torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, 4) and heatmap.shape == (2, 1, 32, 32)
    assert heatmap.min() > 0.99
    assert model.mean.flatten().tolist() == [0.5, 0.5, 0.5] and model.std.flatten().tolist() == [0.5, 0.5, 0.5]
    expected_gates = 4 if classifier in ("vgg", "small") else len(resnet_gate_names(classifier, "block"))
    assert len(model.classifier.gate_names) == expected_gates


def test_build_model_options_reach_the_parts():
    model = build_model("resnet18", 2, gates="stage", explainer_width=4, init_bias=1.5, mean=(0, 0, 0), std=(1, 1, 1))
    assert model.classifier.gate_names == resnet_gate_names("resnet18", "stage")
    assert model.explainer.enc1[0].out_channels == 4
    assert model.explainer.norm.bias.item() == 1.5
    assert model.mean.flatten().tolist() == [0, 0, 0] and model.std.flatten().tolist() == [1, 1, 1]


def test_pretrained_model_defaults_to_imagenet_statistics(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    model = build_model("resnet18", 2, explainer_width=4, pretrained=path)
    assert model.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    assert model.std.flatten().tolist() == pytest.approx([0.229, 0.224, 0.225])


def test_unknown_classifier_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"'alexnet'.*\['resnet18', 'resnet34', 'resnet50', 'vgg', 'small'\]"):
        build_model("alexnet", 2)


def test_unknown_gating_and_pretrained_vgg_are_rejected():
    with pytest.raises(ValueError, match="'block', 'stage'"):
        build_model("vgg", 2, gates="blocks")
    with pytest.raises(ValueError, match="no pretrained weights for the vgg classifier"):
        build_model("vgg", 2, pretrained=True)
    with pytest.raises(ValueError, match="no pretrained weights for the small classifier"):
        build_model("small", 2, pretrained=True)


def test_explain_matches_an_eval_forward_and_keeps_every_module_mode():
    from xmllib.training import prepare_phase

    torch.manual_seed(0)
    model = build_model("vgg", 2, explainer_width=4)
    prepare_phase(model, 2)  # the explainer trains, the classifier is frozen in eval mode
    images = torch.rand(3, 3, 32, 32)
    logits, heatmaps = model.explain(images)
    assert model.explainer.training and not model.classifier.training
    assert not heatmaps.requires_grad
    model.eval()
    with torch.no_grad():
        expected_logits, expected = model(images)
    torch.testing.assert_close(heatmaps, expected)
    torch.testing.assert_close(logits, expected_logits)


def test_a_max_normalised_gate_is_the_classifier_behind_the_map_over_its_maximum():
    torch.manual_seed(0)
    model = build_model("resnet18", 2, explainer_width=4, init_bias=-1.0, head="sigmoid", gate_norm="max").eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        logits, heatmap = model(x)
        level = 1 / (1 + math.exp(1.0))
        by_hand = model.classifier((x - model.mean) / model.std,
                                   level * heatmap / heatmap.amax(dim=(2, 3), keepdim=True))
    assert model.gate_level == pytest.approx(level) and torch.allclose(logits, by_hand, atol=1e-6)


@pytest.mark.parametrize("gate_norm, level_matters", [("max", False), ("none", True)])
def test_only_the_paper_gate_lets_the_maps_level_move_the_decision(gate_norm, level_matters):
    torch.manual_seed(0)
    model = build_model("resnet18", 2, explainer_width=4, gate_norm=gate_norm).eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        plain, heatmap = model(x)
        dimmed, dimmed_map = model(x, lambda z: 0.3 * z)
    assert torch.allclose(dimmed_map, 0.3 * heatmap)
    assert torch.allclose(plain, dimmed, atol=1e-5) != level_matters


def test_a_black_map_stays_black_behind_the_max_normalised_gate():
    from xmllib.models.joint import level_free

    maps = torch.zeros(2, 1, 8, 8)
    maps[1, 0, 2, 3] = 0.25
    free = level_free(maps)
    assert torch.equal(free[0], maps[0]) and free[1].max() == 1.0 and free[1].sum() == 1.0


def test_a_new_explainers_level_is_its_head_at_the_initial_bias():
    assert Explainer(4, init_bias=3.0).initial_level() == pytest.approx(math.tanh(3.0))
    assert Explainer(4, init_bias=-1.0).initial_level() == 0.0
    assert Explainer(4, init_bias=-1.0, head="sigmoid").initial_level() == pytest.approx(1 / (1 + math.exp(1.0)))
    with pytest.raises(ValueError, match="gate_level must lie in \\(0, 1\\], got 0.0"):
        build_model("vgg", 2, init_bias=-1.0, gate_norm="max")


def test_an_unknown_gate_norm_is_refused():
    with pytest.raises(ValueError, match="unknown gate_norm 'mean'.*'none', 'max'"):
        build_model("vgg", 2, gate_norm="mean")
