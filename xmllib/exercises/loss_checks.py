"""Checks of the three explanation losses a student writes (method.md section 2).

The student's functions take a batch of heatmaps z, B x H x W (and masks of the same
shape for the weakly supervised term), and return one value per heatmap: what
`xmllib.losses` computes with reduction="none".
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

from xmllib import losses
from xmllib.exercises.checking import Case, CheckResult, run_check, tensor_difference
from xmllib.exercises.inputs import box_masks, centred_boxes, uniform

PER_HEATMAP = ("one value per heatmap, B values: average over each heatmap's pixels (dims 1 and 2), "
               "not over the batch (dim 0)")


def check_sparsity_loss(sparsity: Callable[[Tensor], Tensor]) -> CheckResult:
    """Check `sparsity(z)`, z B x H x W: L_s = mean |z| over each heatmap's pixels, B values."""
    top_row = torch.zeros(2, 4, 6)
    top_row[:, 0] = 1.0
    cases = [
        Case("all-zero heatmaps (2 x 4 x 6)", (torch.zeros(2, 4, 6),), "a black heatmap marks nothing: L_s = 0"),
        Case("all-one heatmaps (2 x 4 x 6)", (torch.ones(2, 4, 6),),
             "a white heatmap has L_s = 1: the mean of |z| over the pixels, not their sum"),
        Case("heatmaps whose top row is 1 (2 x 4 x 6)", (top_row,),
             "6 of the 24 pixels are 1: L_s = 6 / 24, the mean over all H x W pixels of each heatmap"),
        Case("one heatmap (a batch of 1, 5 x 5)", (uniform(1, 1, 5, 5),),
             "a batch of one heatmap still gives one value per heatmap: shape (1,)"),
        Case("heatmaps with negative values (2 x 4 x 6)", (uniform(2, 2, 4, 6, low=-1.0, high=0.0),),
             "L_s is the mean of the absolute values |z|: a negative value counts by its size"),
        Case("random heatmaps (3 x 8 x 5)", (uniform(3, 3, 8, 5),),
             "L_s = mean |z| over each heatmap's H x W pixels"),
    ]
    reference = partial(losses.sparsity_loss, reduction="none")
    return run_check("sparsity_loss", sparsity, reference, cases, compare=tensor_difference(PER_HEATMAP))


def check_contiguity_loss(contiguity: Callable[[Tensor], Tensor]) -> CheckResult:
    """Check `contiguity(z)`, z B x H x W: L_c, the total variation of each heatmap, B values.

    L_c = mean |z[i+1, j] - z[i, j]| over the (H - 1) x W vertical differences
    + mean |z[i, j+1] - z[i, j]| over the H x (W - 1) horizontal ones.
    """
    top_row, left_column = torch.zeros(2, 4, 6), torch.zeros(2, 4, 6)
    top_row[:, 0] = 1.0
    left_column[:, :, 0] = 1.0
    constant = "a constant heatmap has no edges: L_c = 0"
    cases = [
        Case("all-zero heatmaps (2 x 4 x 6)", (torch.zeros(2, 4, 6),), constant),
        Case("all-one heatmaps (2 x 4 x 6)", (torch.ones(2, 4, 6),), constant),
        Case("heatmaps whose top row is 1 (2 x 4 x 6)", (top_row,),
             "one edge, between rows 0 and 1: |z[1, j] - z[0, j]| = 1 for each of the W columns, averaged over "
             "the (H - 1) x W vertical differences (the H x (W - 1) horizontal ones are all 0): L_c = 1 / 3"),
        Case("heatmaps whose left column is 1 (2 x 4 x 6)", (left_column,),
             "one edge, between columns 0 and 1: |z[i, 1] - z[i, 0]| = 1 for each of the H rows, averaged over "
             "the H x (W - 1) horizontal differences (the vertical ones are all 0): L_c = 1 / 5"),
        Case("one heatmap (a batch of 1, 5 x 5)", (uniform(1, 1, 5, 5),),
             "a batch of one heatmap still gives one value per heatmap: shape (1,)"),
        Case("random heatmaps (3 x 8 x 5)", (uniform(3, 3, 8, 5),),
             "differences of both signs: each counts by its absolute value; the vertical mean is over (H - 1) x W "
             "differences, the horizontal mean over H x (W - 1)"),
    ]
    reference = partial(losses.contiguity_loss, reduction="none")
    return run_check("contiguity_loss", contiguity, reference, cases, compare=tensor_difference(PER_HEATMAP))


def check_weakly_supervised_loss(weakly_supervised: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """Check `weakly_supervised(z, mask)`, both B x H x W: L_w, the mean heatmap outside the mask, B values.

    L_w = |sum((1 - mask) * z) / (sum(1 - mask) + eps)| with eps = 1e-6.
    """
    boxes = centred_boxes(2, 4, 6)
    cases = [
        Case("all-zero heatmaps, box masks (2 x 4 x 6)", (torch.zeros(2, 4, 6), boxes),
             "a black heatmap has nothing outside the mask: L_w = 0"),
        Case("all-one heatmaps, box masks (2 x 4 x 6)", (torch.ones(2, 4, 6), boxes),
             "a white heatmap's mean outside the mask is 1: divide the sum of (1 - mask) * z by the number of "
             "pixels outside the mask, sum(1 - mask), not by all H x W pixels"),
        Case("heatmaps lit inside their box only (2 x 4 x 6)", (boxes, boxes),
             "a heatmap lit only inside the mask costs nothing: L_w looks at the pixels outside it, where "
             "1 - mask = 1"),
        Case("empty masks (nothing relevant), random heatmaps (2 x 4 x 6)", (uniform(1, 2, 4, 6), torch.zeros(2, 4, 6)),
             "with an empty mask every pixel is outside it: L_w is the heatmap's mean"),
        Case("masks covering the whole image (2 x 4 x 6)", (uniform(2, 2, 4, 6), torch.ones(2, 4, 6)),
             "no pixel is outside the mask, so sum(1 - mask) = 0: eps = 1e-6 in the denominator makes L_w 0 "
             "instead of 0 / 0 = NaN"),
        Case("heatmaps with negative values, box masks (2 x 4 x 6)", (uniform(3, 2, 4, 6, low=-1.0, high=0.0), boxes),
             "L_w is the absolute value of the mean outside the mask"),
        Case("one heatmap (a batch of 1, 5 x 5)", (uniform(4, 1, 5, 5), box_masks(4, 1, 5, 5)),
             "a batch of one heatmap still gives one value per heatmap: shape (1,)"),
        Case("random heatmaps and boxes (3 x 6 x 8)", (uniform(5, 3, 6, 8), box_masks(5, 3, 6, 8)),
             "L_w = |sum((1 - mask) * z) / (sum(1 - mask) + eps)| per heatmap, eps = 1e-6"),
    ]
    reference = partial(losses.weakly_supervised_loss, reduction="none")
    return run_check("weakly_supervised_loss", weakly_supervised, reference, cases,
                     compare=tensor_difference(PER_HEATMAP))


def check_inside_mask_loss(inside_mask: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """Check `inside_mask(z, mask)`, both B x H x W: the box term's part inside the mask, B values (ours).

    L_in = sum(mask * (1 - z)) / (sum(mask) + eps) with eps = 1e-6: the mean shortfall from 1 inside the mask.
    """
    boxes = centred_boxes(2, 4, 6)
    cases = [
        Case("all-one heatmaps, box masks (2 x 4 x 6)", (torch.ones(2, 4, 6), boxes),
             "a heatmap that is 1 inside the mask falls short of nothing: L_in = 0"),
        Case("all-zero heatmaps, box masks (2 x 4 x 6)", (torch.zeros(2, 4, 6), boxes),
             "a black heatmap falls short by 1 at every pixel inside the mask: L_in = 1, so divide the sum of "
             "mask * (1 - z) by the number of pixels inside the mask, sum(mask), not by all H x W pixels"),
        Case("heatmaps lit outside their box only (2 x 4 x 6)", (1.0 - boxes, boxes),
             "L_in looks at the pixels inside the mask only: a map lit everywhere else still scores 1"),
        Case("heatmaps of 0.25 everywhere, box masks (2 x 4 x 6)", (torch.full((2, 4, 6), 0.25), boxes),
             "the shortfall is 1 - z, here 0.75 at every pixel inside the mask"),
        Case("empty masks (nothing relevant), random heatmaps (2 x 4 x 6)", (uniform(1, 2, 4, 6), torch.zeros(2, 4, 6)),
             "an image without a target has no pixel inside its mask, so sum(mask) = 0: eps = 1e-6 in the "
             "denominator makes L_in 0 instead of 0 / 0 = NaN"),
        Case("one heatmap (a batch of 1, 5 x 5)", (uniform(4, 1, 5, 5), box_masks(4, 1, 5, 5)),
             "a batch of one heatmap still gives one value per heatmap: shape (1,)"),
        Case("random heatmaps and boxes (3 x 6 x 8)", (uniform(5, 3, 6, 8), box_masks(5, 3, 6, 8)),
             "L_in = sum(mask * (1 - z)) / (sum(mask) + eps) per heatmap, eps = 1e-6"),
    ]
    reference = partial(losses.inside_mask_loss, reduction="none")
    return run_check("inside_mask_loss", inside_mask, reference, cases, compare=tensor_difference(PER_HEATMAP))


def _reference_joint(logits: Tensor, labels: Tensor, heatmaps: Tensor, masks: Tensor, alpha: float, beta: float,
                     gamma: float) -> Tensor:
    return losses.joint_loss(logits, labels, heatmaps, losses.Objective(alpha, beta, gamma), mask=masks).total


def check_joint_loss(joint: Callable[..., Tensor]) -> CheckResult:
    """Check `joint(logits, labels, heatmaps, masks, alpha, beta, gamma)`: the joint loss of a batch, one number.

    L = alpha * mean cross-entropy + (1 - alpha) * mean hybrid explanation loss (method.md section 2).
    """
    logits, labels = uniform(1, 4, 2, low=-3.0, high=3.0), torch.tensor([0, 1, 1, 0])
    heatmaps, masks = uniform(2, 4, 1, 6, 8), box_masks(3, 4, 1, 6, 8)
    batch = (logits, labels, heatmaps, masks)
    cases = [
        Case("alpha 1 (phase 1): random logits and heatmaps, 4 images", (*batch, 1.0, 0.9, 1.0),
             "with alpha = 1 only the classification term counts: the cross-entropy of the logits against the "
             "labels, averaged over the batch (torch.nn.functional.cross_entropy)"),
        Case("alpha 0: the explanation term alone, 4 images", (*batch, 0.0, 0.9, 1.0),
             "with alpha = 0 only the explanation term counts: the hybrid loss beta * L_s + (1 - beta) * L_c + "
             "gamma * L_w, averaged over the batch (xmllib.losses.hybrid_explanation_loss)"),
        Case("alpha 0.25, beta 0.9, gamma 1 (phase 2 of the paper), 4 images", (*batch, 0.25, 0.9, 1.0),
             "alpha weighs the classification term and 1 - alpha the explanation term"),
        Case("alpha 0.6, beta 0.3, gamma 3, 4 images", (*batch, 0.6, 0.3, 3.0),
             "beta and gamma reach the explanation term: beta weighs sparsity against contiguity, gamma the mask term"),
        Case("one image (a batch of 1)", (logits[:1], labels[:1], heatmaps[:1], masks[:1], 0.5, 0.9, 1.0),
             "a batch of one image gives one number too"),
    ]
    return run_check("joint_loss", joint, _reference_joint, cases,
                     compare=tensor_difference("one number for the whole batch: average both terms over the images"))
