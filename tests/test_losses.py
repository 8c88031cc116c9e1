"""The losses against values computed by hand and against a per-sample loop."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from xmllib import losses


def loop_contiguity(z: torch.Tensor) -> float:
    """Total variation of one H x W map, written out with Python loops."""
    h, w = z.shape
    vertical = sum(abs(z[i + 1, j] - z[i, j]) for i in range(h - 1) for j in range(w)) / ((h - 1) * w)
    horizontal = sum(abs(z[i, j + 1] - z[i, j]) for i in range(h) for j in range(w - 1)) / (h * (w - 1))
    return float(vertical + horizontal)


def loop_weak(z_hat: torch.Tensor, z: torch.Tensor, eps: float = 1e-6) -> float:
    outside = [(1 - m, v) for m, v in zip(z.flatten().tolist(), z_hat.flatten().tolist())]
    return abs(sum(o * v for o, v in outside) / (sum(o for o, _ in outside) + eps))


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    heatmap = torch.rand(4, 1, 5, 7, generator=g)
    mask = (torch.rand(4, 1, 5, 7, generator=g) > 0.6).float()
    return heatmap, mask


def test_values_by_hand():
    z = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]])
    assert losses.sparsity_loss(z).item() == pytest.approx(0.75)
    # vertical diffs: |1-0|, |1-1| -> mean 0.5; horizontal: |1-0|, |1-1| -> mean 0.5
    assert losses.contiguity_loss(z).item() == pytest.approx(1.0)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    # outside the mask: 1, 1, 1 over 3 pixels
    assert losses.weakly_supervised_loss(z, mask).item() == pytest.approx(1.0, abs=1e-5)
    assert losses.unsupervised_explanation_loss(z, beta=0.9).item() == pytest.approx(0.9 * 0.75 + 0.1 * 1.0)
    assert losses.hybrid_explanation_loss(z, mask, beta=0.9, gamma=2.0).item() == pytest.approx(
        0.9 * 0.75 + 0.1 * 1.0 + 2.0, abs=1e-5)


def test_batched_equals_per_sample_loop(batch):
    heatmap, mask = batch
    sparsity = losses.sparsity_loss(heatmap, reduction="none")
    contiguity = losses.contiguity_loss(heatmap, reduction="none")
    weak = losses.weakly_supervised_loss(heatmap, mask, reduction="none")
    for i in range(len(heatmap)):
        assert sparsity[i].item() == pytest.approx(heatmap[i].abs().mean().item(), rel=1e-6)
        assert contiguity[i].item() == pytest.approx(loop_contiguity(heatmap[i, 0]), rel=1e-5)
        assert weak[i].item() == pytest.approx(loop_weak(heatmap[i], mask[i]), rel=1e-5)


def test_reductions(batch):
    heatmap, mask = batch
    per_sample = losses.hybrid_explanation_loss(heatmap, mask, 0.9, 1.0, reduction="none")
    assert per_sample.shape == (4,)
    assert losses.hybrid_explanation_loss(heatmap, mask, 0.9, 1.0, reduction="sum").item() == pytest.approx(
        per_sample.sum().item())
    assert losses.hybrid_explanation_loss(heatmap, mask, 0.9, 1.0).item() == pytest.approx(per_sample.mean().item())
    with pytest.raises(ValueError, match="reduction"):
        losses.sparsity_loss(heatmap, reduction="max")


def test_heatmap_without_channel_dimension(batch):
    heatmap, mask = batch
    assert torch.equal(losses.contiguity_loss(heatmap[:, 0], "none"), losses.contiguity_loss(heatmap, "none"))
    with pytest.raises(ValueError, match="B x 1 x H x W"):
        losses.sparsity_loss(heatmap.expand(4, 3, 5, 7))
    with pytest.raises(ValueError, match="does not match"):
        losses.weakly_supervised_loss(heatmap, mask[:, :, :4])


def test_mask_valid_drops_the_weak_term(batch):
    heatmap, mask = batch
    valid = torch.tensor([True, False, True, False])
    hybrid = losses.hybrid_explanation_loss(heatmap, mask, 0.9, 1.0, mask_valid=valid, reduction="none")
    unsupervised = losses.unsupervised_explanation_loss(heatmap, 0.9, reduction="none")
    assert torch.equal(hybrid[~valid], unsupervised[~valid])
    assert torch.all(hybrid[valid] > unsupervised[valid])


@pytest.mark.parametrize("loss", ["unsupervised", "hybrid"])
def test_joint_loss_against_per_sample_loop(batch, loss):
    heatmap, mask = batch
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 2, 1, 2])
    out = losses.joint_loss(logits, labels, heatmap, losses.Objective(alpha=0.3, beta=0.8, gamma=1.5, loss=loss),
                            mask=mask)
    totals = []
    for i in range(4):
        ce = F.cross_entropy(logits[i:i + 1], labels[i:i + 1]).item()
        expl = 0.8 * heatmap[i].abs().mean().item() + 0.2 * loop_contiguity(heatmap[i, 0])
        if loss == "hybrid":
            expl += 1.5 * loop_weak(heatmap[i], mask[i])
        totals.append(0.3 * ce + 0.7 * expl)
    assert out.total.item() == pytest.approx(sum(totals) / 4, rel=1e-5)
    assert out.total.item() == pytest.approx(0.3 * out.classification.item() + 0.7 * out.explanation.item(),
                                             rel=1e-6)


def test_joint_loss_class_weights_match_torch(batch):
    heatmap, mask = batch
    logits = torch.randn(4, 2, generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([0, 1, 1, 1])
    weights = torch.tensor([3.0, 1.0])
    out = losses.joint_loss(logits, labels, heatmap, losses.Objective(alpha=1.0, beta=0.9, class_weights=weights),
                            mask=mask)
    expected = torch.nn.CrossEntropyLoss(weight=weights)(logits, labels)
    assert out.classification.item() == pytest.approx(expected.item(), rel=1e-6)


def test_joint_loss_errors(batch):
    heatmap, _ = batch
    logits, labels = torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="needs masks"):
        losses.joint_loss(logits, labels, heatmap, losses.Objective(alpha=0.5, beta=0.9, loss="hybrid"))
    with pytest.raises(ValueError, match="unknown explanation loss"):
        losses.joint_loss(logits, labels, heatmap, losses.Objective(alpha=0.5, beta=0.9, loss="supervised"))


def test_black_map_has_zero_explanation_loss():
    black = torch.zeros(2, 1, 8, 8)
    assert losses.hybrid_explanation_loss(black, torch.zeros_like(black), 0.9, 1.0).item() == 0.0


def test_inside_mask_loss_is_the_mean_shortfall_inside_the_mask_per_sample(batch):
    heatmap, mask = batch
    mask[1] = 0.0
    values = losses.inside_mask_loss(heatmap, mask, reduction="none")
    for i in range(len(heatmap)):
        inside = [1 - v for v, m in zip(heatmap[i].flatten().tolist(), mask[i].flatten().tolist()) if m == 1]
        expected = sum(inside) / (len(inside) + 1e-6) if inside else 0.0
        assert values[i].item() == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert values[1].item() == 0.0


def test_box_weak_term_adds_the_inside_term_to_the_papers(batch):
    heatmap, mask = batch
    paper = losses.hybrid_explanation_loss(heatmap, mask, 0.3, 2.0, reduction="none")
    box = losses.hybrid_explanation_loss(heatmap, mask, 0.3, 2.0, reduction="none", weak_term="box")
    inside = losses.inside_mask_loss(heatmap, mask, reduction="none")
    assert torch.allclose(box - paper, 2.0 * inside, atol=1e-6)
    with pytest.raises(ValueError, match="unknown weak term 'both'"):
        losses.hybrid_explanation_loss(heatmap, mask, 0.3, 2.0, weak_term="both")


def test_rivals_loss_against_a_per_sample_loop(batch):
    heatmap, mask = batch
    values = losses.rivals_loss(heatmap, mask, reduction="none")
    for i in range(len(heatmap)):
        pairs = zip(heatmap[i].flatten().tolist(), mask[i].flatten().tolist())
        outside = sorted((v for v, m in pairs if m == 0), reverse=True)
        k = int(mask[i].sum().item())
        expected = sum(outside[:k]) / k if k else 0.0
        assert values[i].item() == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_rivals_loss_by_hand_lights_the_brightest_rival_as_much_as_the_target():
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, 0, :2] = 1.0
    heatmap = torch.zeros(1, 1, 4, 4)
    heatmap[0, 0, 3, 3], heatmap[0, 0, 3, 2], heatmap[0, 0, 2, 2] = 0.9, 0.5, 0.4
    heatmap[0, 0, 0, 0] = 1.0
    # two pixels in the mask: the two brightest outside it, (0.9 + 0.5) / 2; the mask's own pixel counts not
    assert losses.rivals_loss(heatmap, mask).item() == pytest.approx(0.7)
    assert losses.rivals_loss(heatmap, torch.zeros_like(mask)).item() == 0.0


def test_rivals_weak_term_adds_the_rivals_to_the_box_term(batch):
    heatmap, mask = batch
    box = losses.hybrid_explanation_loss(heatmap, mask, 0.3, 2.0, reduction="none", weak_term="box")
    rivals = losses.hybrid_explanation_loss(heatmap, mask, 0.3, 2.0, reduction="none", weak_term="rivals")
    assert torch.allclose(rivals - box, 2.0 * losses.rivals_loss(heatmap, mask, reduction="none"), atol=1e-6)


def test_head_range_penalty_by_hand_and_zero_inside_the_range():
    pre = torch.tensor([[[[-6.0, 0.0], [1.0, 7.0]]]])
    # below -4.5 by 1.5, above 4.5 by 2.5: (1.5^2 + 2.5^2) / 4 pixels
    assert losses.head_range_penalty(pre, -4.5, 4.5).item() == pytest.approx((1.5**2 + 2.5**2) / 4)
    assert losses.head_range_penalty(pre.clamp(-4.5, 4.5), -4.5, 4.5).item() == 0.0


def test_an_explanation_term_adds_to_the_explanation_part_only():
    joint = losses.JointLoss(torch.tensor(0.6 * 0.8 + 0.4 * 2.0), torch.tensor(0.8), torch.tensor(2.0))
    out = losses.Objective(alpha=0.6, beta=0.9).with_term(joint, torch.tensor(0.5), weight=0.1)
    assert out.classification is joint.classification
    assert out.explanation.item() == pytest.approx(2.05)
    assert out.total.item() == pytest.approx(joint.total.item() + 0.4 * 0.05)


def test_the_objective_weighs_the_two_terms_by_alpha_and_compares_without_its_weights():
    objective = losses.Objective(alpha=0.25, beta=0.9, class_weights=torch.tensor([1.0, 2.0]))
    assert objective.combine(2.0, 6.0) == pytest.approx(0.25 * 2.0 + 0.75 * 6.0)
    assert objective == losses.Objective(alpha=0.25, beta=0.9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        objective.alpha = 0.5


def test_the_deletion_loss_is_minus_log_one_minus_p_true_on_the_samples_it_applies_to():
    torch.manual_seed(0)
    logits, labels = torch.randn(5, 3) * 4, torch.tensor([0, 2, 1, 1, 0])
    applies = torch.tensor([True, True, False, True, False])
    expected = [-math.log(1 - logits[i].softmax(0)[labels[i]].item()) if applies[i] else 0.0 for i in range(5)]
    values = losses.deletion_loss(logits, labels, applies, reduction="none")
    assert values.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert losses.deletion_loss(logits, labels, applies).item() == pytest.approx(sum(expected) / 5, rel=1e-5)


def test_the_deletion_loss_stays_finite_when_the_classifier_is_certain():
    logits = torch.tensor([[60.0, -60.0], [-60.0, 60.0]])
    values = losses.deletion_loss(logits, torch.tensor([0, 0]), torch.tensor([True, True]), reduction="none")
    assert torch.isfinite(values).all() and values[0] == pytest.approx(120.0) and values[1] == pytest.approx(0.0)


def loop_area(z: torch.Tensor, area: float) -> float:
    """The area term of one map, written out: the k brightest pixels against 1, the others against 0."""
    values = sorted(z.flatten().tolist(), reverse=True)
    k = round(area * len(values))
    return sum((1 - v) ** 2 for v in values[:k]) / len(values) + sum(v ** 2 for v in values[k:]) / len(values)


def test_the_area_term_against_a_per_sample_loop(batch):
    heatmap, _ = batch
    batched = losses.area_loss(heatmap, 0.3, reduction="none")
    assert batched.tolist() == pytest.approx([loop_area(z, 0.3) for z in heatmap])


def test_the_area_term_is_zero_for_any_map_that_lights_exactly_its_share_and_grows_with_the_level():
    shapes = torch.zeros(3, 1, 10, 10)
    shapes[0, 0, :2] = 1.0
    shapes[1, 0, :, :2] = 1.0
    shapes[2, 0].view(-1)[torch.randperm(100, generator=torch.Generator().manual_seed(0))[:20]] = 1.0
    assert losses.area_loss(shapes, 0.2, reduction="none").tolist() == [0.0, 0.0, 0.0]
    dim, bright = 0.5 * shapes[:1], torch.ones(1, 1, 10, 10)
    assert losses.area_loss(dim, 0.2).item() == pytest.approx(0.2 * 0.25)
    assert losses.area_loss(bright, 0.2).item() == pytest.approx(0.8)


def test_the_area_term_takes_the_place_of_sparsity_and_checks_its_share(batch):
    heatmap, mask = batch
    pinned = losses.unsupervised_explanation_loss(heatmap, 0.4, reduction="none", area=0.1)
    expected = 0.4 * losses.area_loss(heatmap, 0.1, "none") + 0.6 * losses.contiguity_loss(heatmap, "none")
    assert torch.allclose(pinned, expected)
    hybrid = losses.hybrid_explanation_loss(heatmap, mask, 0.4, 2.0, reduction="none", area=0.1)
    assert torch.allclose(hybrid, expected + 2.0 * losses.weakly_supervised_loss(heatmap, mask, reduction="none"))
    with pytest.raises(ValueError, match=r"area .* \(0, 1\), got 1.5"):
        losses.area_loss(heatmap, 1.5)
