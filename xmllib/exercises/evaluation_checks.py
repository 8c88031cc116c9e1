"""Checks of the evaluation pieces a student writes: the MoRF curve, AOPC and POMPOM (method.md section 4)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from xmllib.evaluation import aopc, morf_curve
from xmllib.exercises.checking import Case, CheckResult, run_check, tensor_difference
from xmllib.exercises.inputs import box_masks, centred_boxes, uniform
from xmllib.metrics import pompom

MorfCurve = Callable[[nn.Module, Tensor, Tensor, int, int], Tensor]


class PixelModel(nn.Module):
    """A fixed linear classifier of the pixels that returns (logits, heatmap) as `ExplainerClassifier` does.

    Quick, and every pixel changes its probabilities, so a patch perturbed in the
    wrong order shows in the MoRF curve. The heatmap it returns is the image's mean
    over the channels (MoRF curves are given their heatmaps and do not use it).
    """

    def __init__(self, height: int, width: int, num_classes: int = 3, seed: int = 0) -> None:
        super().__init__()
        inputs = 3 * height * width
        weights = torch.randn(num_classes, inputs, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("weights", weights * 4 / math.sqrt(inputs))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(logits N x K, heatmap N x 1 x H x W) of images N x 3 x H x W."""
        return images.flatten(1) @ self.weights.T, images.mean(dim=1, keepdim=True)


def black_morf_curve(model: nn.Module, images: Tensor, heatmaps: Tensor, patch_size: int, steps: int) -> Tensor:
    """The reference of the exercise: `morf_curve` with the black perturbation."""
    return morf_curve(model, images, heatmaps, patch_size, "black", steps)


def check_morf_curve(morf: MorfCurve) -> CheckResult:
    """Check `morf(model, images, heatmaps, patch_size, steps)`: MoRF curves with black patches, N x (steps + 1).

    Entry [i, k] is f(x_i^(k)): the softmax probability, under `model` (which returns
    (logits, heatmap)), of the class predicted for the unperturbed image i, once its k
    most relevant patch_size x patch_size patches (highest mean heatmap first, ties in
    row-major order) are set to 0.
    """
    model = PixelModel(16, 16).eval()
    hot_patch = torch.zeros(2, 1, 16, 16)
    hot_patch[:, :, 8:12, 4:8] = 1.0
    definition = ("f(x^(k)) is the softmax probability of the class predicted for x^(0); x^(k) is x with its k "
                  "most relevant patches (highest mean heatmap first) set to 0, cumulatively")
    cases = [
        Case("heatmaps with one hot patch, 4 px patches, 3 steps", (model, uniform(1, 2, 3, 16, 16), hot_patch, 4, 3),
             definition),
        Case("all-zero heatmaps (every patch equally relevant), 4 px patches, 3 steps",
             (model, uniform(2, 2, 3, 16, 16), torch.zeros(2, 1, 16, 16), 4, 3),
             "patches of equal relevance are perturbed in row-major order, top-left first (a stable sort)"),
        Case("one image (a batch of 1), random heatmap, 4 px patches, 3 steps",
             (model, uniform(3, 1, 3, 16, 16), uniform(4, 1, 1, 16, 16), 4, 3),
             "one row per image, steps + 1 columns: column 0 is f(x^(0)), the unperturbed image"),
        Case("random heatmaps, 4 px patches, 6 steps",
             (model, uniform(5, 3, 3, 16, 16), uniform(6, 3, 1, 16, 16), 4, 6), definition),
        Case("random heatmaps, 8 px patches, every patch (4 steps)",
             (model, uniform(7, 3, 3, 16, 16), uniform(8, 3, 1, 16, 16), 8, 4), definition),
        Case("non-square images (8 x 16), 4 px patches, 5 steps",
             (PixelModel(8, 16).eval(), uniform(9, 2, 3, 8, 16), uniform(10, 2, 1, 8, 16), 4, 5),
             "patches are numbered row by row: a row of a W px wide image holds W / patch_size patches"),
    ]
    shape = "N rows (one per image) and steps + 1 columns (k = 0 .. steps)"
    return run_check("morf_curve", morf, black_morf_curve, cases, compare=tensor_difference(shape))


def check_aopc(area: Callable[[Tensor], Tensor]) -> CheckResult:
    """Check `area(curves)`: AOPC(L) for L = 0 .. steps from MoRF curves N x (steps + 1), steps + 1 values.

    AOPC(L) = 1 / (L + 1) * mean over the images of sum_{k=0..L} (f(x^(0)) - f(x^(k))).
    """
    falling = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    rising = uniform(1, 1, 5, low=0.0, high=0.5).cumsum(dim=1)
    cases = [
        Case("flat curves (the probability never drops), 2 images, 4 steps", (torch.full((2, 5), 0.7),),
             "no drop, so AOPC(L) = 0 for every L"),
        Case("one image whose probability falls from 1 to 0 at the first step", (falling,),
             "AOPC(L) is the sum of the drops f(x^(0)) - f(x^(k)) for k = 0 .. L, divided by L + 1: "
             "here 0, 1/2, 2/3, 3/4"),
        Case("one image whose probability rises (perturbing helps the class), 4 steps", (rising,),
             "when the probability rises, the drops and AOPC are negative: no absolute values"),
        Case("random curves, 4 images, 6 steps", (uniform(2, 4, 7),),
             "average the drops over the images (dim 0), add them up over k = 0 .. L, divide by L + 1"),
    ]
    shape = "one value per L = 0 .. steps: average over the images (dim 0), not over the steps"
    return run_check("aopc", area, aopc, cases, compare=tensor_difference(shape))


def check_pompom(percentage: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """Check `percentage(heatmaps, masks)`, both N x 1 x H x W: POMPOM per image, N values.

    POMPOM = #{pixels with (1 - mask) * heatmap > eps} / (#{pixels with (1 - mask) > eps} + eps), eps = 1e-6.
    """
    boxes = centred_boxes(2, 1, 4, 6)
    cases = [
        Case("all-zero heatmaps, box masks (2 x 1 x 4 x 6)", (torch.zeros(2, 1, 4, 6), boxes),
             "a black heatmap has no meaningful pixel: POMPOM = 0"),
        Case("all-one heatmaps, box masks (2 x 1 x 4 x 6)", (torch.ones(2, 1, 4, 6), boxes),
             "every pixel outside the mask is meaningful: POMPOM = 1; divide by the number of pixels outside the "
             "mask, not by all pixels"),
        Case("heatmaps lit inside their box only", (boxes, boxes),
             "only the pixels outside the mask count, where (1 - mask) * heatmap > eps: POMPOM = 0"),
        Case("faint heatmaps (0.001 everywhere), box masks", (torch.full((2, 1, 4, 6), 1e-3), boxes),
             "a pixel is meaningful when its value is above eps = 1e-6, however faint: POMPOM = 1"),
        Case("heatmaps of 1e-7 everywhere (below eps), box masks", (torch.full((2, 1, 4, 6), 1e-7), boxes),
             "a pixel is meaningful only when its value is above eps = 1e-6, not merely above 0: POMPOM = 0"),
        Case("empty masks (nothing relevant), heatmaps half zeros", (uniform(1, 2, 1, 4, 6, low=-1.0).clamp(min=0),
                                                                    torch.zeros(2, 1, 4, 6)),
             "with an empty mask every pixel is outside: the share of the heatmap's pixels above eps"),
        Case("one image (a batch of 1)", (uniform(2, 1, 1, 5, 5, low=-1.0).clamp(min=0), box_masks(2, 1, 1, 5, 5)),
             "a batch of one image still gives one value per image: shape (1,)"),
        Case("random heatmaps with zeros, random boxes (3 x 1 x 8 x 10)",
             (uniform(3, 3, 1, 8, 10, low=-1.0).clamp(min=0), box_masks(3, 3, 1, 8, 10)),
             "POMPOM = #{pixels outside the mask with heatmap > eps} / #{pixels outside the mask}, per image"),
    ]
    shape = "one value per image, N values: count over each image's pixels (dims 1, 2 and 3)"
    return run_check("pompom", percentage, pompom, cases, compare=tensor_difference(shape))
