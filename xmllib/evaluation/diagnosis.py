"""Why a phase behaves as it does: oracle heatmaps and the head's gradient.

Two measurements of a trained (or half-trained) model on one split:

- **Oracle maps.** The gated classifier is fed chosen heatmaps in place of the
  explainer's: the explainer's own, it dimmed (x 0.8) and brightened (x 1.25), white,
  black, every object's boxes, and the explainer's own kept only inside the target
  boxes (black on negatives). Accuracy under each says what the classifier has learned
  to accept: a classifier that flips when the map's level moves by 20% cannot survive
  phase 2; one that classifies better with the selective map shows that a selective
  explanation exists for it.
- **The head's gradient.** The share of heatmap pixels through which the explainer's
  head passes a gradient below `DEAD_GRADIENT` (`dead_pixel_share`): the pixels the
  training can no longer move. `saturated_pixel_share` counts those that are stuck lit
  (heatmap > 0.5); the rest of the dead pixels are stuck dark.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from xmllib.evaluation.forward import model_device
from xmllib.models import ExplainerClassifier
from xmllib.models.modes import eval_mode

DEAD_GRADIENT = 1e-2
LIT = 0.5
#: accuracy a restricted map may lose and still count as accepted by the classifier
ACCEPT_MARGIN = 0.02
#: how far above the every-object reference a target selectivity must lie to count as selective
SELECTIVE_MARGIN = 0.1

#: an oracle: (the explainer's heatmap, the batch) -> the heatmap the classifier is gated with
Oracle = Callable[[Tensor, Mapping[str, Tensor]], Tensor]


def _boxes(batch: Mapping[str, Tensor], key: str, like: Tensor) -> Tensor:
    return batch[key].to(like.device, like.dtype)


#: name -> (the masks it reads, the oracle). Target masks are empty on negatives, so the
#: maps built from them are black there.
ORACLES: dict[str, tuple[tuple[str, ...], Oracle]] = {
    "explainer": ((), lambda h, b: h),
    "explainer x 0.8": ((), lambda h, b: h * 0.8),
    "explainer x 1.25": ((), lambda h, b: (h * 1.25).clamp(max=1.0)),
    "white": ((), lambda h, b: torch.ones_like(h)),
    "black": ((), lambda h, b: torch.zeros_like(h)),
    "grey 0.3": ((), lambda h, b: torch.full_like(h, 0.3)),
    "every object's boxes": (("mask", "distractors"),
                             lambda h, b: torch.maximum(_boxes(b, "mask", h), _boxes(b, "distractors", h))),
    "target boxes, black negatives": (("mask",), lambda h, b: _boxes(b, "mask", h)),
    "explainer inside target boxes, black negatives": (("mask",), lambda h, b: h * _boxes(b, "mask", h)),
}
_HAS = {"mask": "has_mask", "distractors": "has_distractors"}


@dataclass(frozen=True)
class HeadGradient:
    """Shares of heatmap pixels by how much gradient the explainer's head passes."""

    dead_pixel_share: float
    saturated_pixel_share: float
    mean_heatmap: float


@torch.no_grad()
def oracle_accuracies(model: ExplainerClassifier, loader: DataLoader,
                      oracles: Mapping[str, tuple[tuple[str, ...], Oracle]] = ORACLES) -> pd.DataFrame:
    """Accuracy and share of "positive" (class 1) predictions under each oracle heatmap.

    Columns: heatmap, accuracy, positive_share. A row needs its masks: oracles built from
    target or distractor boxes are left out when the split has no masks of that kind.
    """
    device = model_device(model)
    correct = {name: 0 for name in oracles}
    positive = {name: 0 for name in oracles}
    usable = dict.fromkeys(oracles, True)
    count = 0
    with eval_mode(model):
        for batch in loader:
            images, labels = batch["image"].to(device), batch["label"].to(device)
            for name, (needs, oracle) in oracles.items():
                if not all(bool(batch[_HAS[key]].all()) for key in needs):
                    usable[name] = False
                    continue
                logits, _ = model(images, lambda heatmap, oracle=oracle, batch=batch: oracle(heatmap, batch))
                predictions = logits.argmax(1)
                correct[name] += int((predictions == labels).sum())
                positive[name] += int((predictions == 1).sum())
            count += len(labels)
    rows = [{"heatmap": name, "accuracy": correct[name] / count, "positive_share": positive[name] / count}
            for name in oracles if usable[name]]
    return pd.DataFrame(rows, columns=["heatmap", "accuracy", "positive_share"])



def head_gradient(model: ExplainerClassifier, loader: DataLoader) -> HeadGradient:
    """How much gradient the explainer's head (squash, then clip) passes at each heatmap pixel.

    The head's activations are element-wise, so the derivative of the heatmap with
    respect to the head's pre-activation is computed for all pixels at once.
    """
    device = model_device(model)
    explainer = model.explainer
    dead = saturated = pixels = 0
    total = 0.0
    with eval_mode(model), torch.no_grad():
        for batch in loader:
            with explainer.capture_preactivation() as captured:
                model(batch["image"].to(device))
            with torch.enable_grad():
                pre = captured[0].clone().requires_grad_(True)
                heatmap = explainer.clip(explainer.squash(pre))
                (slope,) = torch.autograd.grad(heatmap.sum(), pre)
            stuck = slope.abs() < DEAD_GRADIENT
            lit = heatmap.detach() > LIT
            dead += int(stuck.sum())
            saturated += int((stuck & lit).sum())
            pixels += heatmap.numel()
            total += float(heatmap.detach().sum())
    return HeadGradient(dead / pixels, saturated / pixels, total / pixels)


def diagnose(model: ExplainerClassifier, loader: DataLoader) -> tuple[pd.DataFrame, dict[str, float]]:
    """The oracle-map table and the head-gradient figures of a model on one split."""
    return oracle_accuracies(model, loader), asdict(head_gradient(model, loader))


def describe_diagnosis(oracles: pd.DataFrame, head: Mapping[str, float]) -> str:
    """The diagnosis in sentences, every number read from `oracles` and `head` (for notebooks and logs)."""
    accuracy = oracles.set_index("heatmap")["accuracy"].to_dict()
    own = accuracy["explainer"]
    lines = [f"With its own heatmaps the classifier is right on {own:.0%} of the images; "
             f"with them dimmed by 20%: {accuracy['explainer x 0.8']:.0%}, brightened by 25%: "
             f"{accuracy['explainer x 1.25']:.0%}."]
    shifted = min(accuracy["explainer x 0.8"], accuracy["explainer x 1.25"])
    if shifted < own - 0.1:
        lines.append("The decision hangs on the map's overall level, not only on where it is bright: "
                     "a phase that moves the level moves the decisions.")
    selective = accuracy.get("explainer inside target boxes, black negatives")
    if selective is not None:
        if selective >= own - ACCEPT_MARGIN:
            verdict = "accepts"
        elif selective >= own - 5 * ACCEPT_MARGIN:
            verdict = f"mostly accepts ({own - selective:.0%} fewer right)"
        else:
            verdict = "does not accept"
        lines.append(f"Kept only inside the target boxes (black maps for negatives), its heatmaps give "
                     f"{selective:.0%}: the classifier {verdict} a map that singles out the target.")
        if selective < own - ACCEPT_MARGIN:
            lines.append(f"So on about {own - selective:.0%} of the images its right answer needs evidence outside "
                         "the target boxes, which its own map keeps lit.")
    lines.append(f"{head['dead_pixel_share']:.0%} of the heatmap pixels get almost no gradient through the "
                 f"explainer's head ({head['saturated_pixel_share']:.0%} stuck lit, "
                 f"{head['dead_pixel_share'] - head['saturated_pixel_share']:.0%} stuck dark); "
                 f"mean heatmap {head['mean_heatmap']:.2f}.")
    return "\n".join(lines)


def describe_localisation(summary: Mapping[str, float]) -> str:
    """One sentence on whether the heatmaps single out the target, from `summarise_test`'s figures."""
    selectivity, reference = summary["target_selectivity"], summary["every_object_selectivity"]
    if selectivity >= reference + SELECTIVE_MARGIN:
        verdict = "the heatmaps single out the targets"
    elif selectivity > reference + SELECTIVE_MARGIN / 5:
        verdict = "the heatmaps favour the targets a little, but light the other objects too"
    else:
        verdict = "the heatmaps light every object alike: they show where objects are, not which one decided"
    return (f"Accuracy {summary['test_accuracy']:.3f}; target selectivity {selectivity:.3f} against {reference:.3f} "
            f"for a map that lights every object box equally; mass inside the target boxes "
            f"{summary['mass_inside_mask']:.3f}: {verdict}.")
