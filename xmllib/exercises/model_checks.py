"""Checks of the model pieces a student writes: the gate (method.md section 1) and freezing for a phase (section 3)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from xmllib.exercises.checking import Case, CheckResult, run_check, tensor_difference
from xmllib.exercises.inputs import uniform
from xmllib.models import Explainer, ExplainerClassifier, gate, small_classifier
from xmllib.training import prepare_phase

GATED_SHAPE = ("the gated features have the feature maps' shape B x C x h x w: the heatmap pooled to "
               "B x 1 x h x w multiplies every channel (broadcasting)")


def check_gate(apply_gate: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """Check `apply_gate(features, heatmap)`: features B x C x h x w times the heatmap B x 1 x H x W, average-pooled
    to h x w."""
    one_pixel = torch.zeros(2, 1, 16, 16)
    one_pixel[:, 0, 0, 0] = 1.0
    cases = [
        Case("a white heatmap (all ones)", (uniform(1, 2, 3, 4, 4, low=-1.0), torch.ones(2, 1, 16, 16)),
             "a white heatmap opens every gate: the feature maps pass unchanged"),
        Case("a black heatmap (all zeros)", (uniform(2, 2, 3, 4, 4, low=-1.0), torch.zeros(2, 1, 16, 16)),
             "a black heatmap closes every gate: all zeros"),
        Case("one relevant pixel, 16 x 16 heatmap, 4 x 4 feature maps of ones", (torch.ones(2, 3, 4, 4), one_pixel),
             "one relevant pixel among the 16 under a feature-map cell: average pooling opens that cell's gate "
             "to 1/16 (max pooling would open it fully)"),
        Case("feature maps as large as the heatmap (16 x 16)",
             (uniform(3, 2, 3, 16, 16, low=-1.0), uniform(4, 2, 1, 16, 16)),
             "when the feature map has the heatmap's size, the gate is the heatmap itself: multiply element-wise"),
        Case("one image (a batch of 1) with 8 channels", (uniform(5, 1, 8, 2, 2, low=-1.0), uniform(6, 1, 1, 16, 16)),
             "every one of the C channels is multiplied by the same pooled heatmap"),
        Case("non-square: a 16 x 8 heatmap, 4 x 2 feature maps",
             (uniform(7, 2, 4, 4, 2, low=-1.0), uniform(8, 2, 1, 16, 8)),
             "pool to the feature map's own height and width, h x w"),
        Case("random feature maps and heatmaps", (uniform(9, 3, 5, 8, 8, low=-1.0), uniform(10, 3, 1, 32, 32)),
             "gate = features * (the heatmap average-pooled to the feature map's h x w)"),
    ]
    return run_check("gate", apply_gate, gate, cases, compare=tensor_difference(GATED_SHAPE))


class PartState(NamedTuple):
    """Whether a part of the model trains: which of its parameters require gradients, and its modules' mode."""

    gradients: str
    mode: str

    def __str__(self) -> str:
        return f"gradients on {self.gradients} of its parameters, {self.mode} mode"


def part_state(module: nn.Module) -> PartState:
    """The PartState of `module`: gradients "all", "none" or "some"; mode "train", "eval" or "mixed"."""
    gradients = {parameter.requires_grad for parameter in module.parameters()}
    modes = {submodule.training for submodule in module.modules()}
    return PartState(
        {True: "all", False: "none"}[gradients.pop()] if len(gradients) == 1 else "some",
        {True: "train", False: "eval"}[modes.pop()] if len(modes) == 1 else "mixed",
    )


def state_after(function: Callable[[ExplainerClassifier, int], object], case: Case) -> dict[str, PartState]:
    """The state of the explainer and the classifier after `function(copy of the case's model, phase)`."""
    model, phase = copy.deepcopy(case.args[0]), case.args[1]
    function(model, phase)
    return {"explainer": part_state(model.explainer), "classifier": part_state(model.classifier)}


def state_difference(expected: dict[str, PartState], got: dict[str, PartState]) -> str | None:
    """Which part is in which state, where the states differ (None when they agree)."""
    lines = []
    for part, wanted in expected.items():
        if got[part] == wanted:
            continue
        lines += [f"the {part}: expected {wanted}", f"{' ' * len(part)}      got {got[part]}"]
        if got[part].gradients == "none" and got[part].mode != "eval":
            lines.append("  a module without gradients but in train mode is not frozen: its BatchNorm running "
                         "statistics keep changing (the original code's mistake)")
    return "\n".join(lines) or None


def tiny_model() -> ExplainerClassifier:
    """A small explainer and gated classifier, both with BatchNorm layers, to freeze and unfreeze."""
    return ExplainerClassifier(Explainer(width=2), small_classifier(2, width=2))


def check_freeze(freeze: Callable[[ExplainerClassifier, int], object]) -> CheckResult:
    """Check `freeze(model, phase)`: freeze and unfreeze the model's explainer and classifier for `phase`.

    Phase 1 trains the classifier, phase 2 the explainer, phase 3 both. A part that
    trains has gradients on and is in train mode; a frozen part has no gradients and is
    in eval mode. The check freezes copies of a small model that start in various states.
    """
    new = tiny_model()
    phases = [new]
    for phase in (1, 2):
        phases.append(copy.deepcopy(phases[-1]))
        prepare_phase(phases[-1], phase)
    evaluated = tiny_model().eval().requires_grad_(False)
    cases = [
        Case("phase 1 for a new model (everything has gradients, train mode)", (new, 1),
             "phase 1 trains the classifier and freezes the explainer: frozen means no gradients "
             "(requires_grad_(False)) and eval mode"),
        Case("phase 2 after phase 1", (phases[1], 2),
             "phase 2 trains the explainer, which phase 1 froze (gradients on, train mode), and freezes the "
             "classifier"),
        Case("phase 3 after phase 2", (phases[2], 3), "phase 3 trains both: unfreeze the classifier frozen in phase 2"),
        Case("phase 2 for a model in eval mode without gradients (as loaded for evaluation)", (evaluated, 2),
             "a part that trains needs both: gradients on and train mode, whatever state it was in"),
    ]
    return run_check("freeze", freeze, prepare_phase, cases, outcome=state_after, compare=state_difference)
