"""The joint model: Explainer and gated Classifier, fed with images in pixel space.

method.md section 1; docs/design.md: the model normalises internally, so
perturbations, post-hoc attributions and plots all work on [0, 1] pixels. The ResNets
(`xmllib.models.resnet`) are imported when one is built: torchvision's import takes
a second or more, which every notebook kernel and command would otherwise pay.
"""

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from xmllib.models.explainer import Explainer, check_divisible_size
from xmllib.models.gates import GATINGS, GatedClassifier, Gating
from xmllib.models.modes import eval_mode
from xmllib.models.vgg import small_classifier, vgg_classifier

#: "small" (ours): `small_classifier`, the tutorial preset's and the loss playground's, which trains in seconds on a CPU
CLASSIFIERS = ("resnet18", "resnet34", "resnet50", "vgg", "small")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PLAIN_MEAN = (0.5, 0.5, 0.5)
PLAIN_STD = (0.5, 0.5, 0.5)
#: how the heatmap is scaled before it gates the classifier: "none" (the paper's: as it is) or "max" (ours:
#: divided by its own maximum, per image, and multiplied by the level of a new explainer's maps, so the
#: classifier sees the map's shape and not its level)
GATE_NORMS = ("none", "max")
GATE_NORM_EPS = 1e-6


class ExplainerClassifier(nn.Module):
    """Explainer E and gated classifier C: x -> (C(x, E(x)), E(x)).

    x is B x 3 x H x W in pixel space [0, 1]; it is normalised with the `mean`
    and `std` buffers (saved in the state dict) before both networks see it.
    Returns logits B x K and the heatmap B x 1 x H x W in [0, 1).

    `gate_norm` "max" (ours) gates the classifier with each heatmap divided by its
    maximum and multiplied by `gate_level` (`level_free`): dimming or brightening a map
    leaves the decision as it was, so the explainer's training can move the map's level
    (which its sparsity term does) without breaking a classifier that learned behind
    another level. `build_model` sets `gate_level` to the level of a new explainer's
    maps, so phase 1 trains behind the same maps as with the paper's gate.
    """

    def __init__(
        self,
        explainer: Explainer,
        classifier: GatedClassifier,
        mean: Sequence[float] = PLAIN_MEAN,
        std: Sequence[float] = PLAIN_STD,
        gate_norm: str = "none",
        gate_level: float = 1.0,
    ) -> None:
        super().__init__()
        if gate_norm not in GATE_NORMS:
            raise ValueError(f"unknown gate_norm {gate_norm!r}: choose one of {list(GATE_NORMS)}")
        if not 0.0 < gate_level <= 1.0:
            raise ValueError(f"gate_level must lie in (0, 1], got {gate_level}: with gate_norm 'max' a level of 0 "
                             "would gate every feature map to black")
        self.gate_norm, self.gate_level = gate_norm, gate_level
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 values each (one per RGB channel), std > 0; got {mean} and {std}")
        self.explainer = explainer
        self.classifier = classifier
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    @property
    def size_divisor(self) -> int:
        """Image height and width must be multiples of this, for explainer and classifier alike."""
        return math.lcm(self.explainer.size_divisor, self.classifier.size_divisor)

    def check_input_size(self, height: int, width: int) -> None:
        """Raise a ValueError naming the valid sizes unless both networks accept height x width."""
        check_divisible_size(
            height,
            width,
            self.size_divisor,
            f"the explainer ({self.explainer.size_divisor}) and the classifier ({self.classifier.size_divisor})",
        )

    def check_batch_size(self, batch_size: int, height: int, width: int) -> None:
        """Raise a ValueError unless every BatchNorm layer sees more than one value per channel in training.

        BatchNorm cannot normalise one value: a batch of one image fails at the first layer
        whose feature maps have shrunk to 1 x 1 (a ResNet's last stage at 32 px).
        """
        sizes: dict[str, int] = {}
        hooks = [module.register_forward_pre_hook(_size_recorder(sizes, name))
                 for name, module in self.named_modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
        try:
            with eval_mode(self), torch.no_grad():
                self(torch.zeros(1, 3, height, width, device=self.mean.device))
        finally:
            for hook in hooks:
                hook.remove()
        too_small = [(name, size) for name, size in sizes.items() if batch_size * size < 2]
        if too_small:
            name, size = too_small[0]
            raise ValueError(
                f"a batch of {batch_size} image{'' if batch_size == 1 else 's'} cannot train this model at "
                f"{height} x {width} px: its BatchNorm "
                f"layer {name} sees feature maps of {size} pixel(s), so it would normalise a single value per "
                "channel; use a batch size of 2 or more, or larger images"
            )

    @torch.no_grad()
    def explain(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(logits, heatmaps) of `images` for showing or measuring: eval mode, no gradients, on the model's device.

        Every submodule gets its own mode back afterwards, so a frozen part stays frozen
        when this is called between the epochs of a phase.
        """
        with eval_mode(self):
            return self(images.to(self.mean.device))

    def forward(self, x: Tensor, edit_heatmap: Callable[[Tensor], Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """(logits B x K, heatmap B x 1 x H x W) of images B x 3 x H x W in [0, 1].

        `edit_heatmap`, when given, maps the explainer's heatmap to the one the
        classifier is gated with (and returned): phase 1's gate dropout and the
        diagnosis's oracle maps use it.
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected an image batch B x 3 x H x W, got shape {tuple(x.shape)}")
        self.check_input_size(x.shape[-2], x.shape[-1])
        normalised = (x - self.mean) / self.std
        heatmap = self.explainer(normalised)
        if edit_heatmap is not None:
            heatmap = edit_heatmap(heatmap)
        return self._classify(normalised, heatmap), heatmap

    def classify(self, x: Tensor, heatmap: Tensor) -> Tensor:
        """Logits of images x (pixel space) behind a given heatmap, as `forward` gates them: the deletion
        loss's classifier behind 1 - heatmap."""
        return self._classify((x - self.mean) / self.std, heatmap)

    def _classify(self, normalised: Tensor, heatmap: Tensor) -> Tensor:
        gating = self.gate_level * level_free(heatmap) if self.gate_norm == "max" else heatmap
        return self.classifier(normalised, gating)


def level_free(heatmap: Tensor) -> Tensor:
    """Each heatmap B x 1 x H x W divided by its own maximum (an all-black map stays black)."""
    return heatmap / heatmap.amax(dim=(2, 3), keepdim=True).clamp_min(GATE_NORM_EPS)


def _size_recorder(sizes: dict[str, int], name: str) -> Callable[..., None]:
    def record(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        sizes[name] = inputs[0][0, 0].numel()

    return record


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights that cannot be had: no network for the download, or no such file."""


def build_model(
    classifier: str,
    num_classes: int,
    *,
    gates: Gating = "block",
    explainer_width: int = 32,
    init_bias: float = 3.0,
    head: str = "tanh_relu",
    pretrained: bool | str | Path = False,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    gate_norm: str = "none",
) -> ExplainerClassifier:
    """An ExplainerClassifier with the named classifier (one of CLASSIFIERS).

    `gates` chooses the ResNet gating ("block" or "stage", see `resnet_gate_names`);
    the small VGG and the small classifier always gate after their 4 stages. `head`: the explainer's head (see
    `Explainer`). `pretrained` (ResNets only):
    True or a state dict file, see `resnet_classifier`. `mean` / `std` default to
    ImageNet's statistics for pretrained classifiers, 0.5 / 0.5 otherwise. `gate_norm`:
    see `ExplainerClassifier`; its level is that of the new explainer's maps.
    """
    if classifier not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {classifier!r}: choose one of {list(CLASSIFIERS)}")
    if gates not in GATINGS:
        raise ValueError(f"unknown gating {gates!r}: choose one of {list(GATINGS)}")
    if classifier in ("vgg", "small"):
        if pretrained is not False:
            raise ValueError(f"there are no pretrained weights for the {classifier} classifier: use pretrained=False "
                             "or a ResNet")
        gated = vgg_classifier(num_classes) if classifier == "vgg" else small_classifier(num_classes)
    else:
        from xmllib.models.resnet import resnet_classifier

        gated = resnet_classifier(classifier, num_classes, gates=gates, pretrained=pretrained)
    use_imagenet = pretrained is not False
    explainer = Explainer(explainer_width, init_bias, head)
    return ExplainerClassifier(
        explainer,
        gated,
        mean=mean if mean is not None else (IMAGENET_MEAN if use_imagenet else PLAIN_MEAN),
        std=std if std is not None else (IMAGENET_STD if use_imagenet else PLAIN_STD),
        gate_norm=gate_norm,
        gate_level=explainer.initial_level() if gate_norm == "max" else 1.0,
    )
