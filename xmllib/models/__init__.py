"""Models: the Explainer, gated classifiers (ResNet, small VGG, any CNN) and the joint model."""

from xmllib.models.explainer import Explainer
from xmllib.models.gates import GatedClassifier, gate
from xmllib.models.joint import CLASSIFIERS, ExplainerClassifier, build_model
from xmllib.models.resnet import (
    PretrainedWeightsError,
    resnet_classifier,
    resnet_gate_names,
)
from xmllib.models.vgg import SmallVGG, small_classifier, vgg_classifier

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
