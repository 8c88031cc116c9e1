"""Post-hoc baselines through captum, checked against hand-written gradients, and the method names."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xmllib.evaluation.posthoc import (
    METHODS,
    LogitsOf,
    attribution_heatmap,
    gradcam_layer,
    lrp_unsupported_layers,
    method_heatmaps,
    resolve_method,
)
from xmllib.models import build_model


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return build_model("resnet18", 3, explainer_width=4).eval()


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return build_model("vgg", 3, explainer_width=4).eval()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def predicted_logit_gradient(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """d logit[predicted class] / d image, computed directly with autograd."""
    x = images.clone().requires_grad_()
    logits = model(x)[0]
    chosen = logits.gather(1, logits.argmax(dim=1, keepdim=True)).sum()
    return torch.autograd.grad(chosen, x)[0]


def scaled(relevance: torch.Tensor) -> torch.Tensor:
    """Per-image division by the maximum, as attribution_heatmap does."""
    return relevance / relevance.amax(dim=(1, 2, 3), keepdim=True)


def test_attribution_heatmap_by_hand():
    attribution = torch.zeros(2, 3, 1, 2)
    attribution[0, :, 0, 0] = torch.tensor([1.0, -2.0, 0.5])  # |.| summed: 3.5
    attribution[0, :, 0, 1] = torch.tensor([-7.0, 0.0, 0.0])  # 7
    heatmap = attribution_heatmap(attribution)
    assert heatmap.shape == (2, 1, 1, 2)
    torch.testing.assert_close(heatmap[0, 0, 0], torch.tensor([0.5, 1.0]))
    torch.testing.assert_close(heatmap[1], torch.zeros(1, 1, 2))  # all zero stays zero, no NaN


def test_logits_of_is_the_joint_models_logits(resnet, images):
    torch.testing.assert_close(LogitsOf(resnet)(images), resnet(images)[0])


def test_saliency_and_input_x_gradient_match_autograd(resnet, images):
    gradient = predicted_logit_gradient(resnet, images)
    expected_saliency = scaled(gradient.abs().sum(dim=1, keepdim=True))
    expected_input_x_gradient = scaled((images * gradient).abs().sum(dim=1, keepdim=True))
    torch.testing.assert_close(method_heatmaps(resnet, images, "saliency"), expected_saliency)
    torch.testing.assert_close(method_heatmaps(resnet, images, "input_x_gradient"), expected_input_x_gradient)


def test_in_model_heatmap_is_the_explainers_scaled(vgg, images):
    torch.testing.assert_close(method_heatmaps(vgg, images, "in-model"), scaled(vgg(images)[1]))


def test_gradcam_matches_its_definition(vgg, images):
    layer = gradcam_layer(vgg)
    assert layer is vgg.classifier.backbone.stage4
    captured = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.update(features=output))
    logits = vgg(images)[0]
    handle.remove()
    features = captured["features"]  # gated stage-4 feature maps, 4 x 4 at 32 px
    chosen = logits.gather(1, logits.argmax(dim=1, keepdim=True)).sum()
    gradient = torch.autograd.grad(chosen, features)[0]
    cam = F.relu((gradient.mean(dim=(2, 3), keepdim=True) * features).sum(dim=1, keepdim=True))
    expected = scaled(F.interpolate(cam, size=(32, 32), mode="bilinear", align_corners=False))
    torch.testing.assert_close(method_heatmaps(vgg, images, "gradcam"), expected.detach())


@pytest.mark.parametrize("method", [m for m in METHODS if m not in ("lrp", "integrated_gradients")])
def test_every_method_runs_on_the_gated_resnet(resnet, images, method):
    before = {name: p.clone() for name, p in resnet.state_dict().items()}
    heatmaps = method_heatmaps(resnet, images, method, batch_size=1)
    assert heatmaps.shape == (2, 1, 32, 32) and heatmaps.device.type == "cpu"
    assert heatmaps.min() >= 0 and heatmaps.max() == 1
    assert set(heatmaps.amax(dim=(1, 2, 3)).tolist()) <= {0.0, 1.0}  # Grad-CAM's ReLU may zero a whole map
    assert not resnet.training
    assert all(p.grad is None for p in resnet.parameters())
    assert all(torch.equal(before[name], p) for name, p in resnet.state_dict().items())


def test_integrated_gradients_runs_on_the_vgg_and_satisfies_completeness(vgg, images):
    from captum.attr import IntegratedGradients

    target = vgg(images)[0].argmax(dim=1)
    attribution, delta = IntegratedGradients(LogitsOf(vgg)).attribute(
        images, target=target, return_convergence_delta=True)
    heatmaps = method_heatmaps(vgg, images, "integrated_gradients")
    torch.testing.assert_close(heatmaps, attribution_heatmap(attribution))
    logits = LogitsOf(vgg)
    gap = logits(images).gather(1, target[:, None]) - logits(torch.zeros_like(images)).gather(1, target[:, None])
    torch.testing.assert_close(attribution.sum(dim=(1, 2, 3)), gap.squeeze(1).detach(), atol=0.05, rtol=0.05)
    assert delta.abs().max() < 0.05


def test_lrp_falls_back_to_deeplift_and_says_why(resnet):
    assert "ConvTranspose2d" in lrp_unsupported_layers(resnet)
    method, note = resolve_method("lrp", resnet)
    assert method == "deeplift"
    assert "ConvTranspose2d" in note and "DeepLift" in note
    assert resolve_method("saliency", resnet) == ("saliency", None)


def test_lrp_runs_where_captum_supports_every_layer(images):
    class Supported(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.relu, self.pool = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))

    model = Supported().eval()
    assert resolve_method("lrp", model) == ("lrp", None)
    heatmaps = method_heatmaps(model, images, "lrp")
    assert heatmaps.shape == (2, 1, 32, 32) and torch.allclose(heatmaps.amax(dim=(1, 2, 3)), torch.ones(2))


def test_random_heatmaps_are_seeded(resnet, images):
    torch.testing.assert_close(method_heatmaps(resnet, images, "random", seed=3),
                               method_heatmaps(resnet, images, "random", seed=3))


def test_unknown_method_is_refused(resnet, images):
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['shap'\]; choose from"):
        method_heatmaps(resnet, images, "shap")


def test_gradcam_and_in_model_need_what_they_need(images):
    logits_only = nn.Sequential(nn.Conv2d(3, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    with pytest.raises(ValueError, match="Grad-CAM needs a layer.*gradcam_layer"):
        method_heatmaps(logits_only, images, "gradcam")
    with pytest.raises(ValueError, match=r"returns \(logits, heatmap\)"):
        method_heatmaps(logits_only, images, "in-model")
    heatmaps = method_heatmaps(logits_only, images, "gradcam", layer=logits_only[0])
    assert heatmaps.shape == (2, 1, 32, 32)
