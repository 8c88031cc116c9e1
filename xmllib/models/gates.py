"""Gates: multiply a classifier's feature maps by the explainer's heatmap.

method.md section 1: "any classification model can be used, provided the
correct connections are introduced". Here a connection is a module name: the
output of each named module of any CNN is multiplied by the heatmap.
"""

import difflib
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from xmllib.models.explainer import check_divisible_size

#: where a ResNet is gated: after every residual block or after every stage (`resnet_gate_names`)
Gating = Literal["block", "stage"]
GATINGS = ("block", "stage")


def gate(features: Tensor, heatmap: Tensor) -> Tensor:
    """Feature maps B x C x h x w multiplied by the heatmap B x 1 x H x W, average-pooled to h x w.

    Average pooling (not max pooling) makes each gate value the share of
    relevant area under that feature-map cell, so one relevant pixel cannot open
    a whole region. The single heatmap channel broadcasts over the C channels.
    """
    if features.ndim != 4 or heatmap.ndim != 4 or heatmap.shape[1] != 1:
        raise ValueError(
            "gate expects feature maps B x C x h x w and a heatmap B x 1 x H x W, got "
            f"{tuple(features.shape)} and {tuple(heatmap.shape)}"
        )
    return features * F.adaptive_avg_pool2d(heatmap, features.shape[-2:])


class GatedClassifier(nn.Module):
    """A CNN `backbone` whose named modules' outputs are gated by a heatmap.

    The gates are forward hooks registered once on the modules named in
    `gate_names` (names as in `backbone.named_modules()`, e.g. "layer1.0"). A
    forward call stores the heatmap, runs the backbone (each hook multiplies its
    module's output by the pooled heatmap, see `gate`) and clears the heatmap
    again, also when the backbone raises, so nothing outlives the call. Hooks
    leave the backbone's parameter names untouched, so its state dict (and
    torchvision's pretrained weights) loads as it is. Running a gated module
    outside `forward` raises a RuntimeError rather than silently skipping its gate.

    `size_divisor`: the backbone needs image height and width divisible by it
    (for gates aligned with the pixels), e.g. 32 for a ResNet; forward checks it.
    """

    def __init__(self, backbone: nn.Module, gate_names: Sequence[str], size_divisor: int = 1) -> None:
        super().__init__()
        modules = dict(backbone.named_modules())
        _check_gate_names(gate_names, modules)
        self.backbone = backbone
        self.gate_names = list(gate_names)
        self.size_divisor = size_divisor
        self._heatmap: Tensor | None = None
        for name in self.gate_names:
            modules[name].register_forward_hook(self._gate_output)

    def forward(self, x: Tensor, heatmap: Tensor) -> Tensor:
        """Logits of the images x (B x 3 x H x W) with the heatmap (B x 1 x H x W) applied at every gate."""
        check_divisible_size(x.shape[-2], x.shape[-1], self.size_divisor, "the classifier")
        if heatmap.ndim != 4 or heatmap.shape[0] != x.shape[0] or heatmap.shape[1] != 1:
            raise ValueError(
                f"the heatmap must be B x 1 x H x W with the images' batch size B = {x.shape[0]}, "
                f"got {tuple(heatmap.shape)}"
            )
        self._heatmap = heatmap
        try:
            return self.backbone(x)
        finally:
            self._heatmap = None

    def _gate_output(self, module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
        """Forward hook: the gated module's output multiplied by the stored heatmap."""
        if self._heatmap is None:
            raise RuntimeError(
                f"the gated module {type(module).__name__} ran outside GatedClassifier.forward; "
                "call the GatedClassifier with (images, heatmap) instead of its backbone"
            )
        return gate(output, self._heatmap)


def _check_gate_names(gate_names: Sequence[str], modules: dict[str, nn.Module]) -> None:
    """Raise a ValueError for gate names that are unknown or repeated, suggesting valid ones."""
    unknown = [name for name in gate_names if name not in modules or name == ""]
    if unknown:
        valid = [name for name in modules if name]
        suggestions = difflib.get_close_matches(unknown[0], valid, n=5) or valid[:8]
        raise ValueError(
            f"unknown gate module name(s) {unknown}: gates must name modules of the backbone "
            f"(as in backbone.named_modules()), for example {suggestions}"
        )
    repeated = sorted(name for name, count in Counter(gate_names).items() if count > 1)
    if repeated:
        raise ValueError(f"gate module name(s) {repeated} are listed more than once; list each once")
