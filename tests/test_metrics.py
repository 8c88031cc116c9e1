import math

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from xmllib.metrics import (
    accuracy,
    balanced_accuracy,
    every_object_heatmaps,
    mass_inside_mask,
    one_vs_rest_problems,
    pointing_game,
    pompom,
    relevance_rank_accuracy,
    roc_auc,
    roc_auc_per_class,
    summarise,
    target_selectivity,
)

NAN = float("nan")

# 4 x 4 examples. The mask is the top-left 2 x 2 block: 4 pixels inside, 12 outside.
MASK = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.float32)
# Mostly inside; two faint pixels outside, tied at 0.25.
HEATMAP_INSIDE = torch.tensor(
    [[1.0, 0.5, 0, 0], [0.5, 0, 0, 0.25], [0, 0, 0, 0], [0, 0, 0.25, 0]]
)
# Its maximum outside (bottom-right corner), one pixel inside, zeros tied elsewhere.
HEATMAP_OUTSIDE = torch.tensor([[0.5, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1.0]])


def batch(*planes: torch.Tensor) -> torch.Tensor:
    return torch.stack(planes).unsqueeze(1)


def assert_values(actual: torch.Tensor, expected: list[float]) -> None:
    torch.testing.assert_close(actual, torch.tensor(expected), equal_nan=True)


# Classification


def test_accuracy_from_predictions_and_from_scores():
    labels = torch.tensor([0, 1, 1, 2, 0])
    assert accuracy(torch.tensor([0, 1, 2, 2, 1]), labels) == pytest.approx(3 / 5)
    scores = torch.tensor([[5.0, 1, 0], [0, 2, 1], [0, 1, 3], [0, 0, 1], [0, 4, 1]])
    assert accuracy(scores, labels) == pytest.approx(3 / 5)


def test_balanced_accuracy_binary_by_hand():
    # recall of class 0: 2/3, of class 1: 1/1
    labels, preds = torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 1, 1])
    assert balanced_accuracy(preds, labels) == pytest.approx((2 / 3 + 1) / 2)
    assert accuracy(preds, labels) == pytest.approx(3 / 4)


def test_balanced_accuracy_three_classes_by_hand_and_against_sklearn():
    labels, preds = torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 1, 1, 0, 2])
    assert balanced_accuracy(preds, labels) == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert balanced_accuracy(preds, labels) == pytest.approx(balanced_accuracy_score(labels, preds))


def test_balanced_accuracy_averages_only_classes_present_in_labels():
    # class 2 is predicted but never true: it has no recall and is not averaged
    labels, preds = torch.tensor([0, 0, 1]), torch.tensor([0, 2, 1])
    assert balanced_accuracy(preds, labels) == pytest.approx((1 / 2 + 1) / 2)


def test_classification_metrics_reject_mismatched_inputs():
    with pytest.raises(ValueError, match="labels"):
        accuracy(torch.tensor([0, 1, 1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="empty"):
        balanced_accuracy(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long))


def test_roc_auc_binary_by_hand():
    # positives score 0.35 and 0.8, negatives 0.1 and 0.4: 3 of the 4 pairs are ordered
    scores = torch.tensor([0.1, 0.4, 0.35, 0.8])
    probs = torch.stack([1 - scores, scores], dim=1)
    assert roc_auc(probs, torch.tensor([0, 0, 1, 1])) == pytest.approx(0.75)


def test_roc_auc_counts_ties_as_half():
    probs = torch.tensor([[0.5, 0.5], [0.5, 0.5], [0.9, 0.1]])
    # pairs (positive 0.5 vs negatives 0.5, 0.1): 0.5 + 1
    assert roc_auc(probs, torch.tensor([1, 0, 0])) == pytest.approx(0.75)


def test_roc_auc_three_classes_macro_one_vs_rest_by_hand_and_against_sklearn():
    probs = torch.tensor(
        [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.2, 0.45, 0.35], [0.4, 0.4, 0.2]]
    )
    labels = torch.tensor([0, 1, 2, 1])
    # class 0: 0.7 above 0.2, 0.2, 0.4 -> 1; class 1: positives 0.5, 0.4 vs negatives 0.2, 0.45
    # -> 3/4; class 2: 0.35 above 0.1, 0.3, 0.2 -> 1
    assert roc_auc_per_class(probs, labels) == pytest.approx({0: 1.0, 1: 0.75, 2: 1.0})
    assert roc_auc(probs, labels) == pytest.approx((1 + 0.75 + 1) / 3)
    assert roc_auc(probs, labels) == pytest.approx(
        roc_auc_score(labels, probs, multi_class="ovr", average="macro")
    )


def test_roc_auc_is_nan_with_a_warning_when_a_class_is_absent():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])
    with pytest.warns(RuntimeWarning, match=r"class\(es\) \[1\]"):
        assert math.isnan(roc_auc(probs, torch.tensor([0, 2, 2])))
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert math.isnan(roc_auc(torch.tensor([[0.3, 0.7], [0.6, 0.4]]), torch.tensor([1, 1])))


def test_one_vs_rest_problems_binary_uses_class_one_as_positive():
    probs = torch.tensor([[0.8, 0.2], [0.3, 0.7]])
    [(k, is_class, score)] = one_vs_rest_problems(probs, torch.tensor([0, 1]))
    assert k == 1
    np.testing.assert_array_equal(is_class, [False, True])
    np.testing.assert_allclose(score, [0.2, 0.7])


def test_roc_auc_rejects_logits_and_bad_labels():
    with pytest.raises(ValueError, match="softmax"):
        roc_auc(torch.tensor([[2.0, -1.0], [0.5, 0.1]]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        roc_auc(torch.tensor([[0.5, 0.5], [0.2, 0.8]]), torch.tensor([0, 2]))


# Localisation by hand


def test_pompom_by_hand():
    # outside the mask: 2 pixels > eps of 12; empty mask: 5 of 16; full mask: undefined
    values = pompom(
        batch(HEATMAP_INSIDE, HEATMAP_OUTSIDE, HEATMAP_INSIDE, HEATMAP_INSIDE),
        batch(MASK, MASK, torch.zeros(4, 4), torch.ones(4, 4)),
    )
    assert_values(values, [2 / 12, 1 / 12, 5 / 16, NAN])


def test_pompom_ignores_values_below_eps():
    heatmap = HEATMAP_OUTSIDE.clone()
    heatmap[2, 2] = 1e-7
    assert_values(pompom(batch(heatmap), batch(MASK)), [1 / 12])
    assert_values(pompom(batch(heatmap), batch(MASK), eps=1e-8), [2 / 12])


def test_mass_inside_mask_by_hand():
    values = mass_inside_mask(
        batch(HEATMAP_INSIDE, HEATMAP_OUTSIDE, HEATMAP_INSIDE, torch.zeros(4, 4), HEATMAP_INSIDE),
        batch(MASK, MASK, torch.zeros(4, 4), MASK, torch.ones(4, 4)),
    )
    # 2.0 of 2.5; 0.5 of 1.5; empty mask; zero heatmap; full mask
    assert_values(values, [0.8, 1 / 3, NAN, NAN, 1.0])


def test_pointing_game_by_hand():
    values = pointing_game(
        batch(HEATMAP_INSIDE, HEATMAP_OUTSIDE, HEATMAP_INSIDE, torch.zeros(4, 4)),
        batch(MASK, MASK, torch.zeros(4, 4), MASK),
    )
    # a flat heatmap points at its first pixel, (0, 0), which is in the mask
    assert_values(values, [1.0, 0.0, NAN, 1.0])


def test_pointing_game_ties_point_at_the_first_maximum():
    heatmap = torch.zeros(4, 4)
    heatmap[0, 3] = heatmap[1, 1] = 1.0  # first in row-major order: (0, 3), outside
    assert_values(pointing_game(batch(heatmap), batch(MASK)), [0.0])


def test_pointing_game_tolerance_is_a_euclidean_distance():
    mask = torch.zeros(5, 5)
    mask[1, 1] = 1
    beside, diagonal = torch.zeros(5, 5), torch.zeros(5, 5)
    beside[1, 2] = 1  # distance 1
    diagonal[2, 2] = 1  # distance sqrt(2)
    heatmaps, masks = batch(beside, diagonal), batch(mask, mask)
    assert_values(pointing_game(heatmaps, masks), [0.0, 0.0])
    assert_values(pointing_game(heatmaps, masks, tolerance=1), [1.0, 0.0])
    assert_values(pointing_game(heatmaps, masks, tolerance=2), [1.0, 1.0])


def test_relevance_rank_accuracy_by_hand():
    values = relevance_rank_accuracy(
        batch(HEATMAP_INSIDE, HEATMAP_OUTSIDE, HEATMAP_INSIDE, HEATMAP_INSIDE),
        batch(MASK, MASK, torch.zeros(4, 4), torch.ones(4, 4)),
    )
    # K = 4. Inside: top 4 = 1.0, 0.5, 0.5 (inside) and the first 0.25 at (1, 3) -> 3/4.
    # Outside: 1.0 at (3, 3), 0.5 at (0, 0), then zeros in row-major order (0, 1) inside,
    # (0, 2) outside -> 2/4.
    assert_values(values, [0.75, 0.5, NAN, 1.0])


def test_target_selectivity_by_hand():
    targets = MASK
    distractors = torch.zeros(4, 4)
    distractors[2:, 2:] = 1
    heatmap = torch.ones(4, 4)  # background mass is ignored
    heatmap[2:, 2:] = 0.5
    values = target_selectivity(
        batch(heatmap, heatmap, torch.zeros(4, 4), heatmap),
        batch(targets, targets, targets, torch.zeros(4, 4)),
        batch(distractors, torch.zeros(4, 4), distractors, distractors),
    )
    # 4 / (4 + 4 * 0.5); no distractors; no mass in the boxes; no target
    assert_values(values, [2 / 3, 1.0, NAN, NAN])


def test_every_object_heatmaps_score_one_over_the_number_of_objects():
    corners = []
    for rows, cols in [(slice(0, 2), slice(0, 2)), (slice(0, 2), slice(4, 6)),
                       (slice(5, 7), slice(0, 2)), (slice(5, 7), slice(5, 7))]:
        box = torch.zeros(8, 8)
        box[rows, cols] = 1
        corners.append(box)
    one_target = (corners[0], corners[1] + corners[2] + corners[3])
    two_targets = (corners[0] + corners[1], corners[2] + corners[3])
    targets, distractors = batch(one_target[0], two_targets[0]), batch(one_target[1], two_targets[1])
    reference = every_object_heatmaps(targets, distractors)
    torch.testing.assert_close(reference, targets + distractors)
    assert_values(target_selectivity(reference, targets, distractors), [1 / 4, 2 / 4])
    assert_values(target_selectivity(targets, targets, distractors), [1.0, 1.0])


def test_every_object_heatmaps_is_the_union_of_overlapping_boxes():
    targets, distractors = torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)
    targets[0, :2, :2] = 1
    distractors[0, 1:3, 1:3] = 1
    union = every_object_heatmaps(targets, distractors)
    assert union.shape == (1, 1, 4, 4)
    assert union.max() == 1 and union.sum() == 7


def test_localisation_metrics_accept_n_x_h_x_w_and_boolean_masks():
    heatmaps, masks = batch(HEATMAP_INSIDE, HEATMAP_OUTSIDE), batch(MASK, MASK)
    for metric in (pompom, mass_inside_mask, pointing_game, relevance_rank_accuracy):
        torch.testing.assert_close(metric(heatmaps[:, 0], masks[:, 0].bool()), metric(heatmaps, masks))


def test_localisation_metrics_reject_bad_inputs():
    heatmaps, masks = batch(HEATMAP_INSIDE), batch(MASK)
    with pytest.raises(ValueError, match="shape"):
        pompom(heatmaps, masks[..., :3])
    with pytest.raises(ValueError, match="binary"):
        pointing_game(heatmaps, masks * 0.5)
    with pytest.raises(ValueError, match="N x 1 x H x W"):
        relevance_rank_accuracy(heatmaps.expand(1, 3, 4, 4), masks)
    with pytest.raises(ValueError, match="non-negative"):
        mass_inside_mask(-heatmaps, masks)
    with pytest.raises(ValueError, match="non-negative"):
        target_selectivity(-heatmaps, masks, masks)
    with pytest.raises(ValueError, match="tolerance"):
        pointing_game(heatmaps, masks, tolerance=-1)


# Batched versions against a per-image loop


def reference_values(heatmap: np.ndarray, mask: np.ndarray, distractors: np.ndarray) -> dict:
    """Every localisation metric of one H x W image, pixel by pixel in plain Python."""
    pixels = [(i, j) for i in range(heatmap.shape[0]) for j in range(heatmap.shape[1])]
    inside = [p for p in pixels if mask[p] == 1]
    outside = [p for p in pixels if mask[p] == 0]
    boxes = [p for p in pixels if mask[p] == 1 or distractors[p] == 1]
    total = sum(heatmap[p] for p in pixels)
    on_boxes = sum(heatmap[p] for p in boxes)
    pointed = max(pixels, key=lambda p: heatmap[p])  # first maximum in row-major order
    ranked = sorted(pixels, key=lambda p: -heatmap[p])  # stable: ties in row-major order
    return {
        "pompom": sum(heatmap[p] > 1e-6 for p in outside) / (len(outside) + 1e-6) if outside else NAN,
        "mass": sum(heatmap[p] for p in inside) / total if inside and total > 0 else NAN,
        "pointing": float(any(math.dist(pointed, p) <= 1 for p in inside)) if inside else NAN,
        "rank": sum(mask[p] for p in ranked[: len(inside)]) / len(inside) if inside else NAN,
        "selectivity": sum(heatmap[p] for p in inside) / on_boxes if inside and on_boxes > 0 else NAN,
    }


def test_batched_metrics_match_a_per_image_loop():
    generator = torch.Generator().manual_seed(0)
    n, height, width = 8, 5, 6
    # quantised heatmaps, so that ties are frequent; masks include empty and full ones
    heatmaps = torch.randint(0, 5, (n, 1, height, width), generator=generator).double() / 4
    heatmaps[3] = 0
    masks = (torch.rand(n, 1, height, width, generator=generator) < 0.3).double()
    masks[1], masks[2] = 0, 1
    distractors = (torch.rand(n, 1, height, width, generator=generator) < 0.3).double()
    batched = {
        "pompom": pompom(heatmaps, masks),
        "mass": mass_inside_mask(heatmaps, masks),
        "pointing": pointing_game(heatmaps, masks, tolerance=1),
        "rank": relevance_rank_accuracy(heatmaps, masks),
        "selectivity": target_selectivity(heatmaps, masks, distractors),
    }
    loop = [reference_values(h[0].numpy(), m[0].numpy(), d[0].numpy())
            for h, m, d in zip(heatmaps, masks, distractors)]
    for name, values in batched.items():
        expected = torch.tensor([image[name] for image in loop], dtype=torch.float64)
        torch.testing.assert_close(values, expected, equal_nan=True, msg=name)
    assert batched["mass"][1:4].isnan().tolist() == [True, False, True]


# summarise


def test_summarise_excludes_and_counts_nans():
    assert summarise(torch.tensor([0.5, NAN, 1.0, NAN])) == {"mean": 0.75, "n": 2, "excluded": 2}
    assert summarise(torch.tensor([0.0, 0.25])) == {"mean": 0.125, "n": 2, "excluded": 0}


def test_summarise_of_only_nans_has_a_nan_mean():
    summary = summarise(torch.tensor([NAN, NAN, NAN]))
    assert math.isnan(summary["mean"]) and summary["n"] == 0 and summary["excluded"] == 3
