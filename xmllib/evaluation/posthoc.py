"""Heatmaps of every method the evaluation compares: the in-model heatmap, captum's post-hoc methods, random.

Post-hoc methods (captum) attribute the one-input function f(x) = C(x, E(x)), the
logits of the trained joint model (`LogitsOf`), to the class it predicts for each
image, in pixel space. Methods: Saliency, Integrated Gradients (black baseline),
InputXGradient, Guided Backprop, Deconvolution, Guided Grad-CAM, Grad-CAM, LRP and
DeepLift (black baseline). Grad-CAM and Guided Grad-CAM use the classifier's last
gated module (the last feature map the heatmap gates; `gradcam_layer`), Grad-CAM
with the ReLU of its definition, upsampled bilinearly to the image size.

LRP: captum's LRP has rules for a fixed list of layer types only. Where the model
holds any other (the explainer's ConvTranspose2d, for one), `resolve_method` swaps
in DeepLift and says so. (Even with every layer supported, captum's LRP sees
neither the gates' products nor residual additions, which are not modules.)

Every method's output goes through `attribution_heatmap`, the same way. captum is
imported by the two functions that call it: its import takes most of a second, which
every import of `xmllib.evaluation` would otherwise pay.
"""

import warnings
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xmllib.evaluation.aopc import random_order_heatmaps
from xmllib.evaluation.forward import logits_of, model_device
from xmllib.models.modes import eval_mode

IN_MODEL = "in-model"
RANDOM = "random"
POSTHOC_METHODS = (
    "saliency",
    "integrated_gradients",
    "input_x_gradient",
    "guided_backprop",
    "deconvolution",
    "guided_gradcam",
    "gradcam",
    "lrp",
    "deeplift",
)
METHODS = (IN_MODEL, *POSTHOC_METHODS, RANDOM)
#: captum's informational warnings on every call, about what it does as designed (hooks it
#: sets and removes, inputs it marks as requiring gradients): silenced, they say nothing wrong
CAPTUM_NOTICES = ("Setting backward hooks on ReLU activations", "Input Tensor 0 did not already require gradients")
DEFAULT_METHODS = tuple(method for method in METHODS if method not in ("deeplift", RANDOM))
"""The paper's comparison, with Grad-CAM added; DeepLift stands in for LRP where captum cannot run LRP."""


class LogitsOf(nn.Module):
    """f(x) = logits of C(x, E(x)): a joint model as the one-input, one-output function captum attributes."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return logits_of(self.model(x), len(x))


def attribution_heatmap(attribution: Tensor) -> Tensor:
    """An attribution (N x C x H x W) as a heatmap N x 1 x H x W in [0, 1].

    Absolute value, summed over channels, divided by the image's maximum (an
    all-zero attribution stays all zero). Dividing by the maximum rather than
    stretching min to max keeps 0 meaning "no relevance" (POMPOM counts pixels > 0).
    """
    relevance = attribution.detach().abs().sum(dim=1, keepdim=True)
    peak = relevance.amax(dim=(2, 3), keepdim=True)
    return relevance / torch.where(peak > 0, peak, torch.ones_like(peak))


def in_model_heatmap(output: object, images: Tensor) -> Tensor:
    """The heatmap in a joint model's output (logits, heatmap), or a ValueError saying what is needed."""
    heatmap = output[1] if isinstance(output, (tuple, list)) and len(output) >= 2 else None
    expected = (len(images), 1, *images.shape[2:])
    if not isinstance(heatmap, Tensor) or tuple(heatmap.shape) != expected:
        raise ValueError(
            f"the in-model method needs a model whose forward returns (logits, heatmap), "
            f"the heatmap of shape {expected}; this model's output has none"
        )
    return heatmap


def gradcam_layer(model: nn.Module) -> nn.Module:
    """The classifier's last gated module: the last feature map the heatmap gates, Grad-CAM's layer."""
    classifier = getattr(model, "classifier", None)
    if classifier is None or not getattr(classifier, "gate_names", None):
        raise ValueError(
            "Grad-CAM needs a layer: the model has no `classifier` with `gate_names` "
            "(an ExplainerClassifier); pass gradcam_layer= the module to use"
        )
    return dict(classifier.backbone.named_modules())[classifier.gate_names[-1]]


def lrp_unsupported_layers(model: nn.Module) -> list[str]:
    """Names of the layer types in `model` that captum's LRP has no rule for (empty: LRP applies)."""
    from captum.attr._core.lrp import SUPPORTED_LAYERS_WITH_RULES, SUPPORTED_NON_LINEAR_LAYERS

    supported = (*SUPPORTED_LAYERS_WITH_RULES, *SUPPORTED_NON_LINEAR_LAYERS)
    leaves = (module for module in model.modules() if not list(module.children()))
    return sorted({type(leaf).__name__ for leaf in leaves if type(leaf) not in supported})


def check_methods(methods: Sequence[str]) -> None:
    """Refuse unknown method names."""
    unknown = [method for method in methods if method not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")


def resolve_method(method: str, model: nn.Module) -> tuple[str, str | None]:
    """The method that will run for `method` on `model`, and a note when it is not the one asked for."""
    check_methods([method])
    if method != "lrp":
        return method, None
    unsupported = lrp_unsupported_layers(model)
    if not unsupported:
        return method, None
    return "deeplift", (
        f"LRP is not available: captum's LRP has no rule for {', '.join(unsupported)} in this model; "
        "DeepLift (black baseline) is used in its place"
    )


def _attribute_chunk(method: str, model: nn.Module, images: Tensor, target: Tensor, layer: nn.Module,
                     batch_size: int) -> Tensor:
    """Raw attribution of `images` (one chunk) to `target` by a captum method, at image resolution."""
    from captum.attr import (
        LRP,
        Deconvolution,
        DeepLift,
        GuidedBackprop,
        GuidedGradCam,
        InputXGradient,
        IntegratedGradients,
        LayerGradCam,
        Saliency,
    )

    f = LogitsOf(model)
    attributors: dict[str, Callable[[], Tensor]] = {
        "saliency": lambda: Saliency(f).attribute(images, target=target),
        "integrated_gradients": lambda: IntegratedGradients(f).attribute(
            images, target=target, internal_batch_size=batch_size),
        "input_x_gradient": lambda: InputXGradient(f).attribute(images, target=target),
        "guided_backprop": lambda: GuidedBackprop(f).attribute(images, target=target),
        "deconvolution": lambda: Deconvolution(f).attribute(images, target=target),
        "guided_gradcam": lambda: GuidedGradCam(f, layer).attribute(images, target=target),
        "gradcam": lambda: F.interpolate(
            LayerGradCam(f, layer).attribute(images, target=target, relu_attributions=True),
            size=images.shape[-2:], mode="bilinear", align_corners=False),
        "lrp": lambda: LRP(f).attribute(images, target=target),
        "deeplift": lambda: DeepLift(f).attribute(images, target=target),
    }
    return attributors[method]()


def method_heatmaps(
    model: nn.Module,
    images: Tensor,
    method: str,
    *,
    batch_size: int = 16,
    layer: nn.Module | None = None,
    seed: int = 0,
) -> Tensor:
    """Heatmaps (N x 1 x H x W in [0, 1], on the CPU) of one method for `images` (N x 3 x H x W in [0, 1]).

    `method` is one of METHODS and runs as given (see `resolve_method` for LRP's
    stand-in). Post-hoc methods explain the class the model predicts; `layer` is
    Grad-CAM's (default `gradcam_layer(model)`); `seed` seeds the random heatmaps.
    The model runs in eval mode on its device, `batch_size` images at a time.
    """
    check_methods([method])
    if method == RANDOM:
        return attribution_heatmap(random_order_heatmaps(images, seed)).cpu()
    if method in ("gradcam", "guided_gradcam") and layer is None:
        layer = gradcam_layer(model)
    heatmaps = []
    with eval_mode(model):
        for chunk in images.to(model_device(model)).split(batch_size):
            with torch.no_grad():
                output = model(chunk)
            if method == IN_MODEL:
                raw = in_model_heatmap(output, chunk)
            else:
                target = logits_of(output, len(chunk)).argmax(dim=1)
                with warnings.catch_warnings():
                    for notice in CAPTUM_NOTICES:
                        warnings.filterwarnings("ignore", message=notice, category=UserWarning)
                    raw = _attribute_chunk(method, model, chunk.detach().requires_grad_(), target, layer,
                                           batch_size)
            heatmaps.append(attribution_heatmap(raw).cpu())
    return torch.cat(heatmaps)
