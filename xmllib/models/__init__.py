"""Models: the Explainer, gated classifiers (ResNet, small VGG, any CNN) and the joint model.

The ResNet names are loaded on first use (`__getattr__`): `xmllib.models.resnet` imports
torchvision, whose import takes a second or more that a model without a ResNet does not need.
"""

from importlib import import_module
from typing import Any

from xmllib.models.explainer import Explainer
from xmllib.models.gates import GatedClassifier, gate
from xmllib.models.joint import CLASSIFIERS, ExplainerClassifier, PretrainedWeightsError, build_model
from xmllib.models.vgg import SmallVGG, small_classifier, vgg_classifier

_RESNET_NAMES = ("resnet_classifier", "resnet_gate_names")

__all__ = [
    "CLASSIFIERS",
    "Explainer",
    "ExplainerClassifier",
    "GatedClassifier",
    "PretrainedWeightsError",
    "SmallVGG",
    "build_model",
    "gate",
    "resnet_classifier",
    "resnet_gate_names",
    "small_classifier",
    "vgg_classifier",
]


def __getattr__(name: str) -> Any:
    if name in _RESNET_NAMES:
        return getattr(import_module("xmllib.models.resnet"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
