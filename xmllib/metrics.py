"""Classification and localisation metrics.

Classification metrics take predictions (or N x K probabilities) and labels and
return one number. Localisation metrics take a batch of heatmaps and binary masks
(N x 1 x H x W or N x H x W) and return one value per image, NaN where the metric is
undefined for that image (an empty mask, a zero heatmap, ...); `summarise` averages
them and says how many images it left out, so that undefined values are never
silently counted as 0 or 1.

Each metric states its reference, formula, inputs and whether higher or lower is
better, in the manner of Quantus. scikit-learn is imported by the function that needs it:
its import takes most of a second, which every import of the package would otherwise pay.
"""

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# Classification


def _predictions_and_labels(probs_or_preds: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Class predictions (argmax of N x K scores, or N given indices) and N labels, checked."""
    scores, labels = torch.as_tensor(probs_or_preds), torch.as_tensor(labels)
    if scores.ndim not in (1, 2):
        raise ValueError(
            f"expected N predicted classes or N x K scores, got shape {tuple(scores.shape)}"
        )
    if labels.ndim != 1 or len(labels) != len(scores):
        raise ValueError(
            f"expected {len(scores)} labels as a 1-D tensor, got shape {tuple(labels.shape)}"
        )
    if len(labels) == 0:
        raise ValueError("no samples: the metric of an empty set is undefined")
    preds = scores.argmax(dim=1) if scores.ndim == 2 else scores
    return preds.long(), labels.long()


def accuracy(probs_or_preds: Tensor, labels: Tensor) -> float:
    """Fraction of correct predictions; higher is better.

    Inputs: N predicted class indices or N x K scores (probabilities or logits, the
    argmax is the prediction) and N true class indices.
    """
    preds, labels = _predictions_and_labels(probs_or_preds, labels)
    return (preds == labels).double().mean().item()


def balanced_accuracy(probs_or_preds: Tensor, labels: Tensor) -> float:
    """Mean over the classes present in `labels` of each class's recall; higher is better.

    Reference: Brodersen et al., "The balanced accuracy and its posterior
    distribution", ICPR 2010 (scikit-learn's `balanced_accuracy_score`, unadjusted).
    Formula: 1/|C| sum_{c in C} #{i: y_i = c, yhat_i = c} / #{i: y_i = c}, with C the
    classes that occur in `labels`. Chance level is 1/|C| whatever the class balance.
    Inputs: as for `accuracy`.
    """
    preds, labels = _predictions_and_labels(probs_or_preds, labels)
    n_classes = int(max(preds.max(), labels.max())) + 1
    support = torch.bincount(labels, minlength=n_classes)
    correct = torch.bincount(labels[preds == labels], minlength=n_classes)
    present = support > 0
    return (correct[present].double() / support[present]).mean().item()


def one_vs_rest_problems(
    probs: Tensor, labels: Tensor
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """The binary problems behind ROC and precision-recall analysis: (class, is_class, score).

    Binary (K = 2): one problem, class 1 is the positive class, scored by probs[:, 1].
    K > 2: one problem per class k, labels == k against the rest, scored by probs[:, k].
    `probs` must be N x K probabilities (softmax outputs, rows summing to 1): ranking
    samples by a logit instead of its softmax probability gives a different curve.
    """
    probs, labels = torch.as_tensor(probs).double().cpu(), torch.as_tensor(labels).long().cpu()
    if probs.ndim != 2 or probs.shape[1] < 2 or len(probs) == 0:
        raise ValueError(
            f"expected N x K probabilities with N >= 1, K >= 2, got shape {tuple(probs.shape)}"
        )
    if labels.ndim != 1 or len(labels) != len(probs):
        raise ValueError(
            f"expected {len(probs)} labels as a 1-D tensor, got shape {tuple(labels.shape)}"
        )
    if labels.min() < 0 or labels.max() >= probs.shape[1]:
        raise ValueError(
            f"labels must lie in [0, {probs.shape[1] - 1}], got {labels.unique().tolist()}"
        )
    sums_to_one = torch.allclose(probs.sum(dim=1), torch.ones_like(probs[:, 0]), atol=1e-3)
    if probs.min() < 0 or probs.max() > 1 or not sums_to_one:
        raise ValueError(
            "expected probabilities in [0, 1] with rows summing to 1: pass logits.softmax(dim=1)"
        )
    classes = [1] if probs.shape[1] == 2 else range(probs.shape[1])
    return [(k, (labels == k).numpy(), probs[:, k].numpy()) for k in classes]


def roc_auc_per_class(probs: Tensor, labels: Tensor) -> dict[int, float]:
    """ROC AUC of each problem of `one_vs_rest_problems`, by class; NaN where it is undefined.

    A problem whose labels hold only positives or only negatives has no ROC curve.
    Binary: {1: AUC}; K > 2: {k: one-vs-rest AUC of class k}.
    """
    from sklearn.metrics import roc_auc_score

    return {
        k: roc_auc_score(is_class, score) if 0 < is_class.sum() < len(is_class) else float("nan")
        for k, is_class, score in one_vs_rest_problems(probs, labels)
    }


def roc_auc(probs: Tensor, labels: Tensor) -> float:
    """Area under the ROC curve; higher is better (0.5 is chance, 1 is perfect ranking).

    Reference: Hanley & McNeil, Radiology 143 (1982); multi-class as in Provost &
    Domingos (2000), one-vs-rest, unweighted macro average (scikit-learn's
    `roc_auc_score(multi_class="ovr", average="macro")`).
    Formula: binary, P(score of a random positive > score of a random negative) with
    class 1 positive and probs[:, 1] its score; K > 2, the mean over the K classes of
    the one-vs-rest AUC of class k scored by probs[:, k].
    Inputs: N x K probabilities (rows summing to 1) and N labels in [0, K).
    Undefined: a class whose one-vs-rest problem has no positive or no negative sample
    has no ROC curve. Rather than average over fewer classes (a number not comparable
    with other splits), `roc_auc` then returns NaN and warns, naming the classes.
    """
    per_class = roc_auc_per_class(probs, labels)
    undefined = [k for k, auc in per_class.items() if np.isnan(auc)]
    if undefined:
        warnings.warn(
            f"roc_auc is undefined (NaN): the one-vs-rest problem of class(es) {undefined} "
            "has only positive or only negative samples in `labels`",
            RuntimeWarning,
            stacklevel=2,
        )
        return float("nan")
    return float(np.mean(list(per_class.values())))


# Localisation


def _as_images(x: Tensor, name: str) -> Tensor:
    """`x` as an N x 1 x H x W floating-point tensor (accepts N x H x W)."""
    x = torch.as_tensor(x)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"{name} must be N x 1 x H x W or N x H x W, got shape {tuple(x.shape)}")
    return x if x.is_floating_point() else x.float()


def _as_masks(masks: Tensor, like: Tensor, name: str) -> Tensor:
    """Binary `masks` as a tensor of the shape and dtype of the N x 1 x H x W tensor `like`."""
    masks = _as_images(masks, name).to(like.dtype)
    if masks.shape != like.shape:
        raise ValueError(f"{name} must have shape {tuple(like.shape)}, got {tuple(masks.shape)}")
    if not ((masks == 0) | (masks == 1)).all():
        raise ValueError(f"{name} must be binary (0/1); threshold them first, e.g. mask > 0.5")
    return masks


def _require_non_negative(heatmaps: Tensor, metric: str) -> None:
    """Refuse signed heatmaps for a metric that treats heatmaps as mass."""
    if (heatmaps < 0).any():
        raise ValueError(
            f"{metric} measures heatmap mass and needs non-negative heatmaps: "
            "pass heatmaps.abs() or heatmaps.clamp(min=0)"
        )


def _nan_where_undefined(values: Tensor, defined: Tensor) -> Tensor:
    """`values` where `defined`, NaN elsewhere."""
    return torch.where(defined, values, torch.full_like(values, float("nan")))


def _ratio(numerator: Tensor, denominator: Tensor, defined: Tensor) -> Tensor:
    """numerator / denominator where `defined`, NaN elsewhere (no division by zero)."""
    return _nan_where_undefined(numerator / torch.where(defined, denominator, 1), defined)


def pompom(heatmaps: Tensor, masks: Tensor, eps: float = 1e-6) -> Tensor:
    """Percentage of meaningful pixels outside the mask, per image; lower is better.

    Reference: Rio-Torto, Fernandes & Teixeira, Pattern Recognition Letters 133 (2020),
    section 4 of method.md.
    Formula: #{pixels with (1 - z) * zhat > eps} / (#{pixels with (1 - z) > eps} + eps),
    z the binary mask, zhat the heatmap; in [0, 1].
    Inputs: heatmaps and binary masks, N x 1 x H x W or N x H x W.
    Undefined (NaN): a mask that covers the whole image (no pixel outside it).
    A black heatmap scores a perfect 0: report it beside `mass_inside_mask` and accuracy.
    """
    heatmaps = _as_images(heatmaps, "heatmaps")
    masks = _as_masks(masks, heatmaps, "masks")
    outside = 1 - masks
    meaningful = ((outside * heatmaps) > eps).sum(dim=(1, 2, 3)).to(heatmaps.dtype)
    n_outside = (outside > eps).sum(dim=(1, 2, 3)).to(heatmaps.dtype)
    return _ratio(meaningful, n_outside + eps, n_outside > 0)


def mass_inside_mask(heatmaps: Tensor, masks: Tensor) -> Tensor:
    """Share of the heatmap's mass that lies inside the mask, per image; higher is better.

    Reference: the "energy-based pointing game" of Wang et al., Score-CAM, CVPR
    Workshops 2020 (also Quantus' `AttributionLocalisation`).
    Formula: sum(zhat * z) / sum(zhat); in [0, 1].
    Inputs: non-negative heatmaps and binary masks, N x 1 x H x W or N x H x W.
    Undefined (NaN): an empty mask, or a heatmap that is zero everywhere.
    """
    heatmaps = _as_images(heatmaps, "heatmaps")
    masks = _as_masks(masks, heatmaps, "masks")
    _require_non_negative(heatmaps, "mass_inside_mask")
    inside = (heatmaps * masks).sum(dim=(1, 2, 3))
    total = heatmaps.sum(dim=(1, 2, 3))
    return _ratio(inside, total, (masks.sum(dim=(1, 2, 3)) > 0) & (total > 0))


def target_selectivity(heatmaps: Tensor, target_masks: Tensor, distractor_masks: Tensor) -> Tensor:
    """Share of the heatmap's mass on objects that falls on target objects, per image; higher is better.

    Tells an explanation of the class ("where is the polygon X?") from an object
    detector ("where are polygons?"): a heatmap that lights every object box equally
    scores about (target area) / (all boxes' area), i.e. 1 / (number of objects) for
    one target among equal-size objects (see `every_object_heatmaps`); one that lights
    only the targets scores near 1. Background mass is ignored (that is what `pompom`
    and `mass_inside_mask` measure).
    Formula: sum(zhat * t) / sum(zhat * (t OR d)), t the target boxes' mask, d the
    distractor boxes' mask; in [0, 1].
    Inputs: non-negative heatmaps and binary target and distractor masks,
    N x 1 x H x W or N x H x W (all-zero distractor masks when there are none).
    Undefined (NaN): no target box, or no heatmap mass inside the boxes.
    """
    heatmaps = _as_images(heatmaps, "heatmaps")
    targets = _as_masks(target_masks, heatmaps, "target_masks")
    distractors = _as_masks(distractor_masks, heatmaps, "distractor_masks")
    _require_non_negative(heatmaps, "target_selectivity")
    on_targets = (heatmaps * targets).sum(dim=(1, 2, 3))
    on_objects = (heatmaps * torch.maximum(targets, distractors)).sum(dim=(1, 2, 3))
    return _ratio(on_targets, on_objects, (targets.sum(dim=(1, 2, 3)) > 0) & (on_objects > 0))


def every_object_heatmaps(target_masks: Tensor, distractor_masks: Tensor) -> Tensor:
    """The reference heatmaps that light every object box equally: the union of the masks.

    Scoring them with `target_selectivity` shows what an explanation that finds
    objects but not the class would score on the same data. Returns N x 1 x H x W.
    """
    targets = _as_images(target_masks, "target_masks")
    targets = _as_masks(targets, targets, "target_masks")
    distractors = _as_masks(distractor_masks, targets, "distractor_masks")
    return torch.maximum(targets, distractors)


def _disk(radius: int, like: Tensor) -> Tensor:
    """1 x 1 x (2r+1) x (2r+1) kernel of the pixels within Euclidean distance `radius` of its centre."""
    offsets = torch.arange(-radius, radius + 1, device=like.device)
    return ((offsets[:, None] ** 2 + offsets[None, :] ** 2) <= radius**2).to(like.dtype)[None, None]


def pointing_game(heatmaps: Tensor, masks: Tensor, tolerance: int = 0) -> Tensor:
    """1 where the heatmap's maximum lies in the mask, 0 where not, per image; higher is better.

    Reference: Zhang et al., "Top-down neural attention by excitation backprop",
    ECCV 2016 / IJCV 2018 (they use a tolerance of 15 pixels).
    Formula: hit = z'[argmax zhat], z' the mask dilated by `tolerance` pixels
    (every pixel within Euclidean distance `tolerance` of the mask).
    Ties: the first maximum in row-major order is the pointed-at pixel (torch.argmax),
    so the result is deterministic; a flat heatmap thus points at its top-left
    pixel. (Quantus' `PointingGame` counts a hit when any maximum is inside, which
    gives a flat, uninformative heatmap a hit on every image.)
    Inputs: heatmaps and binary masks, N x 1 x H x W or N x H x W; tolerance >= 0.
    Undefined (NaN): an empty mask.
    """
    heatmaps = _as_images(heatmaps, "heatmaps")
    masks = _as_masks(masks, heatmaps, "masks")
    if tolerance < 0:
        raise ValueError(f"tolerance is a distance in pixels and must be >= 0, got {tolerance}")
    dilated = F.conv2d(masks, _disk(tolerance, masks), padding=tolerance) > 0
    pointed = heatmaps.flatten(1).argmax(dim=1, keepdim=True)
    hits = dilated.flatten(1).gather(1, pointed).squeeze(1).to(heatmaps.dtype)
    return _nan_where_undefined(hits, masks.sum(dim=(1, 2, 3)) > 0)


def relevance_rank_accuracy(heatmaps: Tensor, masks: Tensor) -> Tensor:
    """Fraction of the K most relevant pixels that lie in the mask, K the mask's size, per image.

    Higher is better.
    Reference: Arras, Osman & Samek, "CLEVR-XAI: A benchmark dataset for the ground
    truth evaluation of neural network explanations", Information Fusion 81 (2022).
    Formula: |top_K(zhat) intersect z| / K, K = #{pixels with z = 1}; in [0, 1].
    Ties: pixels of equal relevance are ranked in row-major order (stable sort), so
    the result is deterministic.
    Inputs: heatmaps and binary masks, N x 1 x H x W or N x H x W.
    Undefined (NaN): an empty mask.
    """
    heatmaps = _as_images(heatmaps, "heatmaps")
    masks = _as_masks(masks, heatmaps, "masks")
    order = heatmaps.flatten(1).sort(dim=1, descending=True, stable=True).indices
    mask_by_rank = masks.flatten(1).gather(1, order)
    size = masks.sum(dim=(1, 2, 3))
    in_top = torch.arange(mask_by_rank.shape[1], device=size.device) < size[:, None]
    return _ratio((mask_by_rank * in_top).sum(dim=1), size, size > 0)


def summarise(values: Tensor) -> dict[str, float | int]:
    """Mean of per-image metric values over the images where the metric is defined.

    Returns dict(mean=..., n=number of values averaged, excluded=number of NaN values
    left out). `mean` is NaN when every value is NaN.
    """
    values = torch.as_tensor(values).double().flatten()
    defined = ~values.isnan()
    n = int(defined.sum())
    mean = values[defined].mean().item() if n else float("nan")
    return {"mean": mean, "n": n, "excluded": len(values) - n}
