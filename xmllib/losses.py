"""The explanation losses and the joint loss of method.md section 2, batched.

Every function takes heatmaps of shape B x 1 x H x W (or B x H x W), computes one
value per sample in a single expression over the whole batch (the original code
looped over the batch in Python), and reduces them with `reduction`:
"mean" (default), "sum", or "none" (a tensor of B values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

REDUCTIONS = ("mean", "sum", "none")
EXPLANATION_LOSSES = ("unsupervised", "hybrid")


def _per_sample(heatmap: Tensor) -> Tensor:
    """B x H x W view of a B x 1 x H x W (or B x H x W) heatmap."""
    if heatmap.dim() == 4 and heatmap.shape[1] == 1:
        return heatmap[:, 0]
    if heatmap.dim() == 3:
        return heatmap
    raise ValueError(f"heatmaps must be B x 1 x H x W or B x H x W, got shape {tuple(heatmap.shape)}")


def _heatmap_and_mask(heatmap: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """B x H x W views of a heatmap and its mask, which must have the same shape."""
    z_hat, z = _per_sample(heatmap), _per_sample(mask)
    if z.shape != z_hat.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match heatmap shape {tuple(heatmap.shape)}")
    return z_hat, z


def _reduce(values: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")


def sparsity_loss(heatmap: Tensor, reduction: str = "mean") -> Tensor:
    """L_s = mean |zhat|: small when few pixels are marked relevant."""
    return _reduce(_per_sample(heatmap).abs().mean(dim=(1, 2)), reduction)


def area_loss(heatmap: Tensor, area: float, reduction: str = "mean") -> Tensor:
    """Mean squared difference between the sorted map and a step that lights a share `area` of it (ours).

    The area constraint of Fong, Patrick and Vedaldi ("Understanding deep networks via
    extremal perturbations and smooth masks", ICCV 2019): smallest when the brightest
    `area` of the pixels are 1 and the rest 0, so the map's level and lit share are pinned
    and only which pixels are lit is left to the other terms.
    """
    if not 0.0 < area < 1.0:
        raise ValueError(f"area is the share of the map to light and must lie in (0, 1), got {area}")
    z = _per_sample(heatmap).flatten(1)
    lit = round(area * z.shape[1])
    step = torch.zeros(z.shape[1], dtype=z.dtype, device=z.device)
    step[z.shape[1] - lit:] = 1.0
    return _reduce(((z.sort(dim=1).values - step) ** 2).mean(dim=1), reduction)


def contiguity_loss(heatmap: Tensor, reduction: str = "mean") -> Tensor:
    """L_c: total variation, the mean absolute vertical plus mean absolute horizontal difference."""
    z = _per_sample(heatmap)
    vertical = (z[:, 1:, :] - z[:, :-1, :]).abs().mean(dim=(1, 2))
    horizontal = (z[:, :, 1:] - z[:, :, :-1]).abs().mean(dim=(1, 2))
    return _reduce(vertical + horizontal, reduction)


def weakly_supervised_loss(heatmap: Tensor, mask: Tensor, eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """L_w = |sum((1 - z) * zhat) / (sum(1 - z) + eps)|: the mean heatmap outside the mask z."""
    z_hat, z = _heatmap_and_mask(heatmap, mask)
    outside = 1.0 - z
    values = (outside * z_hat).sum(dim=(1, 2)) / (outside.sum(dim=(1, 2)) + eps)
    return _reduce(values.abs(), reduction)


def inside_mask_loss(heatmap: Tensor, mask: Tensor, eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """sum(z * (1 - zhat)) / (sum(z) + eps): the mean shortfall from 1 inside the mask z (ours).

    0 for an empty mask (a negative image). Added to L_w (weak_term "box"), it asks
    for the boxes to be lit as well as the rest to be dark: a direct signal towards
    the target, where the paper's term alone only pushes down outside it.
    """
    z_hat, z = _heatmap_and_mask(heatmap, mask)
    values = (z * (1.0 - z_hat)).sum(dim=(1, 2)) / (z.sum(dim=(1, 2)) + eps)
    return _reduce(values, reduction)


def rivals_loss(heatmap: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
    """Mean of the k brightest heatmap pixels outside the mask z, k the number of pixels inside it (ours).

    0 for an empty mask. The paper's L_w averages over the whole outside, where a lit
    rival object is a few percent of the pixels; this term weighs the brightest region
    outside the target as much as the target itself, so that lighting a rival costs what
    lighting the target gains.
    """
    z_hat, z = _heatmap_and_mask(heatmap, mask)
    outside = (z_hat * (1.0 - z)).flatten(1).sort(dim=1, descending=True).values
    k = z.flatten(1).sum(dim=1).round().long().clamp(max=outside.shape[1])
    brightest = outside.cumsum(dim=1).gather(1, (k - 1).clamp(min=0)[:, None])[:, 0]
    values = torch.where(k > 0, brightest / k.clamp(min=1), torch.zeros_like(brightest))
    return _reduce(values, reduction)


def head_range_penalty(preactivation: Tensor, low: float, high: float, reduction: str = "mean") -> Tensor:
    """mean(relu(low - a)^2 + relu(a - high)^2) over the pixels' pre-activations a (ours).

    Zero while every pixel stays where the explainer's head passes a gradient
    (`xmllib.models.explainer.ACTIVE_RANGES`); it pulls back the pixels that are about
    to be stuck black or white, so that no pixel of the map is lost to training.
    """
    a = _per_sample(preactivation)
    values = (F.relu(low - a) ** 2 + F.relu(a - high) ** 2).mean(dim=(1, 2))
    return _reduce(values, reduction)


def unsupervised_explanation_loss(heatmap: Tensor, beta: float, reduction: str = "mean", area: float = 0.0) -> Tensor:
    """L_u = beta * L_s + (1 - beta) * L_c; with `area` > 0 (ours), `area_loss` takes the place of L_s."""
    pinned = area_loss(heatmap, area, "none") if area > 0 else sparsity_loss(heatmap, "none")
    values = beta * pinned + (1.0 - beta) * contiguity_loss(heatmap, "none")
    return _reduce(values, reduction)


#: the losses each weak term adds up. "outside": the paper's L_w. "box" (ours): L_w plus the mean
#: of 1 - zhat inside the mask. "rivals" (ours): "box" plus the mean of the brightest outside
#: pixels, as many as the mask holds.
_WEAK_TERM_PARTS = {
    "outside": (weakly_supervised_loss,),
    "box": (weakly_supervised_loss, inside_mask_loss),
    "rivals": (weakly_supervised_loss, inside_mask_loss, rivals_loss),
}
WEAK_TERMS = tuple(_WEAK_TERM_PARTS)


def hybrid_explanation_loss(
    heatmap: Tensor,
    mask: Tensor,
    beta: float,
    gamma: float,
    mask_valid: Tensor | None = None,
    reduction: str = "mean",
    weak_term: str = "outside",
    area: float = 0.0,
) -> Tensor:
    """L_h = L_u + gamma * L_w; samples whose `mask_valid` is False get no L_w term.

    weak_term "box" (ours) adds `inside_mask_loss` to L_w, "rivals" (ours) adds `rivals_loss` to that;
    `area`: see `unsupervised_explanation_loss`.
    """
    if weak_term not in WEAK_TERMS:
        raise ValueError(f"unknown weak term {weak_term!r}; choose one of {', '.join(WEAK_TERMS)}")
    weak = sum(term(heatmap, mask, reduction="none") for term in _WEAK_TERM_PARTS[weak_term])
    if mask_valid is not None:
        weak = weak * mask_valid.to(weak.dtype)
    values = unsupervised_explanation_loss(heatmap, beta, "none", area) + gamma * weak
    return _reduce(values, reduction)


class JointLoss(NamedTuple):
    """The joint loss and its two parts, each already reduced the same way."""

    total: Tensor
    classification: Tensor
    explanation: Tensor


@dataclass(frozen=True)
class Objective:
    """What one phase minimises: alpha * classification + (1 - alpha) * explanation (method.md section 2).

    Built once per phase from a Config (`xmllib.assembly.objective_from_config`). `loss`,
    `beta`, `gamma`, `weak_term` and `area` make the explanation term; `head_penalty` and
    `deletion` weigh our two extra explanation terms, which training adds (`with_term`);
    `class_weights` weigh the cross-entropy per class.
    """

    alpha: float
    beta: float
    gamma: float = 1.0
    loss: str = "hybrid"
    weak_term: str = "outside"
    area: float = 0.0
    head_penalty: float = 0.0
    deletion: float = 0.0
    class_weights: Tensor | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.loss not in EXPLANATION_LOSSES:
            raise ValueError(f"unknown explanation loss {self.loss!r}; choose one of {', '.join(EXPLANATION_LOSSES)}")

    def combine(self, classification: Tensor | float, explanation: Tensor | float) -> Tensor | float:
        """alpha * classification + (1 - alpha) * explanation: the one place the two terms are weighed."""
        return self.alpha * classification + (1.0 - self.alpha) * explanation

    def explanation_loss(self, heatmap: Tensor, mask: Tensor | None = None, mask_valid: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
        """L_u or L_h of the heatmaps, as `loss` says."""
        if self.loss == "unsupervised":
            return unsupervised_explanation_loss(heatmap, self.beta, reduction, self.area)
        if mask is None:
            raise ValueError("the hybrid loss needs masks; use loss='unsupervised' for data without masks")
        return hybrid_explanation_loss(heatmap, mask, self.beta, self.gamma, mask_valid, reduction, self.weak_term,
                                       self.area)

    def with_term(self, loss: JointLoss, term: Tensor, weight: float) -> JointLoss:
        """`loss` with `weight * term` (a reduced loss of the map: the head-range penalty, the deletion loss)
        added to its explanation part, and the total weighed again."""
        explanation = loss.explanation + weight * term
        return JointLoss(self.combine(loss.classification, explanation), loss.classification, explanation)


def joint_loss(logits: Tensor, labels: Tensor, heatmap: Tensor, objective: Objective, *, mask: Tensor | None = None,
               mask_valid: Tensor | None = None, reduction: str = "mean") -> JointLoss:
    """L = alpha * CE(C(x, zhat), y) + (1 - alpha) * L_expl, L_expl = L_u or L_h, as `objective` says.

    With the objective's `class_weights`, the mean reduction of the classification term is the
    weighted mean (sum of w_y * CE over the sum of w_y), as `torch.nn.CrossEntropyLoss`
    computes it, for training and validation alike.
    """
    weights = objective.class_weights
    classification = F.cross_entropy(logits, labels, weight=weights, reduction="none")
    explanation = objective.explanation_loss(heatmap, mask, mask_valid, "none")
    if reduction == "mean" and weights is not None:
        classification_reduced = classification.sum() / weights[labels].sum()
    else:
        classification_reduced = _reduce(classification, reduction)
    explanation_reduced = _reduce(explanation, reduction)
    return JointLoss(objective.combine(classification_reduced, explanation_reduced), classification_reduced,
                     explanation_reduced)


def deletion_loss(deleted_logits: Tensor, labels: Tensor, applies: Tensor, reduction: str = "mean") -> Tensor:
    """-log(1 - p_y) of the classifier behind 1 - heatmap, for the samples where `applies` (ours).

    The deletion half of Dabkowski and Gal's objective ("Real time image saliency for
    black box classifiers", NeurIPS 2017): with the lit part of the map removed, the
    classifier should no longer find the true class y, so the map must cover the evidence
    (a map that lights nothing leaves the decision intact and pays). `applies` (bool, B)
    picks the samples whose class has evidence to remove (those with a target in their
    mask); the others count 0. log(1 - p_y) = logsumexp of the other logits - logsumexp of all.
    """
    others = deleted_logits.scatter(1, labels[:, None], float("-inf"))
    values = deleted_logits.logsumexp(dim=1) - others.logsumexp(dim=1)
    return _reduce(values * applies.to(values.dtype), reduction)
