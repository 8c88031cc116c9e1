"""Gated ResNet-18/34/50 classifiers built from torchvision's own ResNet.

method.md section 1. The blocks are torchvision's `BasicBlock` / `Bottleneck`
with a captum-safe forward (`out + identity` instead of `+=`, a separate
non-in-place ReLU per use); parameter names are torchvision's, so torchvision's
pretrained weights load unchanged (the original code renamed layers and could
not load them). Images need H and W divisible by 32.
"""

from pathlib import Path
from typing import Literal

import torch
import torchvision
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from xmllib.models.gates import GATINGS, GatedClassifier, Gating
from xmllib.models.joint import PretrainedWeightsError

ResNetName = Literal["resnet18", "resnet34", "resnet50"]
SIZE_DIVISOR = 32


class SafeBasicBlock(BasicBlock):
    """torchvision's BasicBlock, computed without in-place operations or a reused ReLU."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        del self.relu
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + identity)


class SafeBottleneck(Bottleneck):
    """torchvision's Bottleneck, computed without in-place operations or a reused ReLU."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        del self.relu
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()
        self.relu3 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu3(out + identity)


_ARCHITECTURES: dict[str, tuple[type[nn.Module], list[int], type[torchvision.models.WeightsEnum]]] = {
    "resnet18": (SafeBasicBlock, [2, 2, 2, 2], torchvision.models.ResNet18_Weights),
    "resnet34": (SafeBasicBlock, [3, 4, 6, 3], torchvision.models.ResNet34_Weights),
    "resnet50": (SafeBottleneck, [3, 4, 6, 3], torchvision.models.ResNet50_Weights),
}


def resnet_gate_names(name: ResNetName, gates: Gating = "block") -> list[str]:
    """Names of the gated modules of a ResNet.

    "block": after the stem ("maxpool") and after every residual block ("layer1.0",
    "layer1.1", ...; 9 gates in ResNet-18), as in the code behind the paper's results.
    "stage": after the stem and after each stage "layer1".."layer4" (5 gates), as the seed describes.
    """
    _, layers, _ = _architecture(name)
    if gates == "block":
        blocks = [f"layer{stage}.{block}" for stage, count in enumerate(layers, 1) for block in range(count)]
        return ["maxpool"] + blocks
    if gates == "stage":
        return ["maxpool"] + [f"layer{stage}" for stage in range(1, len(layers) + 1)]
    raise ValueError(f"unknown gating {gates!r}: choose one of {list(GATINGS)}")


def resnet_classifier(
    name: ResNetName,
    num_classes: int,
    gates: Gating = "block",
    pretrained: bool | str | Path = False,
) -> GatedClassifier:
    """A gated torchvision ResNet with a `num_classes` head.

    `pretrained`: False for random weights; True for torchvision's DEFAULT
    ImageNet weights (downloaded); a path for a torchvision state dict saved in
    a file. Pretrained weights fill everything except the 1000-class `fc` head,
    which stays freshly initialised for `num_classes`.
    """
    gate_names = resnet_gate_names(name, gates)
    block, layers, _ = _architecture(name)
    backbone = ResNet(block, layers, num_classes=num_classes)
    backbone.relu = nn.ReLU()
    if pretrained is not False:
        _load_backbone_weights(backbone, _pretrained_state_dict(name, pretrained), name)
    return GatedClassifier(backbone, gate_names, size_divisor=SIZE_DIVISOR)


def _load_backbone_weights(backbone: ResNet, state_dict: dict[str, Tensor], name: str) -> None:
    """Copy a torchvision ResNet state dict into `backbone`, all but the `fc` head.

    Raises a ValueError when backbone keys are missing or unexpected or a shape differs.
    """
    own = backbone.state_dict()
    given = {key: value for key, value in state_dict.items() if not key.startswith("fc.")}
    expected = {key for key in own if not key.startswith("fc.")}
    missing = sorted(key for key in expected - given.keys() if not key.endswith("num_batches_tracked"))
    unexpected = sorted(given.keys() - expected)
    mismatched = sorted(key for key in expected & given.keys() if given[key].shape != own[key].shape)
    if missing or unexpected or mismatched:
        raise ValueError(
            f"the state dict does not fit torchvision's {name}: missing keys {missing[:5]} "
            f"({len(missing)} in all), unexpected keys {unexpected[:5]} ({len(unexpected)} in all), "
            f"shape mismatches {mismatched[:5]} ({len(mismatched)} in all); pass a state dict "
            f"saved from torchvision.models.{name}()"
        )
    backbone.load_state_dict({**own, **given})


def _architecture(name: str) -> tuple[type[nn.Module], list[int], type[torchvision.models.WeightsEnum]]:
    """Block type, blocks per stage and torchvision weights enum of a ResNet name."""
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown ResNet {name!r}: choose one of {list(_ARCHITECTURES)}")
    return _ARCHITECTURES[name]


def _pretrained_state_dict(name: str, pretrained: bool | str | Path) -> dict[str, Tensor]:
    """torchvision's DEFAULT weights (pretrained=True, downloaded) or the state dict in a file."""
    if pretrained is True:
        weights = _architecture(name)[2].DEFAULT
        try:
            return weights.get_state_dict(progress=True, check_hash=True)
        except (OSError, RuntimeError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise PretrainedWeightsError(
                f"could not download torchvision's {weights} weights for {name} ({reason}). Without network "
                f"access, download {weights.url} on a machine that has it and copy the file to "
                f"{Path(torch.hub.get_dir()) / 'checkpoints'}, where torchvision looks first (in Python you "
                "may also pass the file's path as `pretrained`)"
            ) from None
    path = Path(pretrained)
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained weights file {path} does not exist")
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state_dict, dict):
        raise ValueError(f"{path} holds a {type(state_dict).__name__}, not a state dict of torchvision's {name}")
    return state_dict
