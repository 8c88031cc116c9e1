"""The exercise checks: the reference passes, stubs are "missing" with their hint, typical mistakes fail and say why."""

from functools import partial

import pytest
import torch
import torch.nn.functional as F

from xmllib import losses
from xmllib.evaluation import aopc, patch_order
from xmllib.exercises import (
    CHECKS,
    assert_passes,
    check_aopc,
    check_contiguity_loss,
    check_freeze,
    check_gate,
    check_inside_mask_loss,
    check_joint_loss,
    check_morf_curve,
    check_pompom,
    check_sparsity_loss,
    check_weakly_supervised_loss,
)
from xmllib.exercises.evaluation_checks import black_morf_curve
from xmllib.metrics import pompom
from xmllib.models import gate
from xmllib.training import prepare_phase

REFERENCES = {
    "sparsity_loss": partial(losses.sparsity_loss, reduction="none"),
    "contiguity_loss": partial(losses.contiguity_loss, reduction="none"),
    "weakly_supervised_loss": partial(losses.weakly_supervised_loss, reduction="none"),
    "inside_mask_loss": partial(losses.inside_mask_loss, reduction="none"),
    "joint_loss": lambda logits, labels, heatmaps, masks, alpha, beta, gamma: (
        alpha * F.cross_entropy(logits, labels)
        + (1 - alpha) * losses.hybrid_explanation_loss(heatmaps, masks, beta, gamma)),
    "gate": gate,
    "freeze": prepare_phase,
    "morf_curve": black_morf_curve,
    "aopc": aopc,
    "pompom": pompom,
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_reference_passes_and_the_check_says_so(name, capsys):
    result = CHECKS[name](REFERENCES[name])
    assert (result.check, result.status) == (name, "pass")
    assert capsys.readouterr().out.startswith(f"[PASS] {name}: matches xmllib's reference on all")


@pytest.mark.parametrize("name", list(CHECKS))
def test_a_stub_is_missing_and_its_hint_is_shown(name, capsys):
    def stub(*args):
        raise NotImplementedError("the hint of the stub")

    result = CHECKS[name](stub)
    assert result.status == "missing"
    assert capsys.readouterr().out.strip() == f"[NOT DONE] {name}: not written yet: the hint of the stub"


@pytest.mark.parametrize("name", list(CHECKS))
def test_an_otter_stub_whose_body_is_an_ellipsis_is_missing(name, capsys):
    def stub(*args):
        ...

    assert CHECKS[name](stub).status == "missing"
    assert capsys.readouterr().out.strip() == f"[NOT DONE] {name}: not written yet: its body is still `...`"


def test_a_function_that_returns_none_after_doing_something_is_not_taken_for_a_stub():
    def forgot_return(z):
        z.abs().mean(dim=(1, 2))

    result = check_sparsity_loss(forgot_return)
    assert result.status == "fail" and "your function returned a NoneType" in result.message


def test_assert_passes_raises_the_checks_report_unless_it_passes_and_shows_a_pass_once(capsys):
    with pytest.raises(AssertionError) as failed:
        assert_passes(check_sparsity_loss, lambda z: z.abs().sum(dim=(1, 2)))
    assert str(failed.value).startswith("[FAIL] sparsity_loss: differs from xmllib's reference on 5 of 6 inputs")
    assert capsys.readouterr().out == ""
    assert assert_passes(check_sparsity_loss, REFERENCES["sparsity_loss"]).status == "pass"
    assert capsys.readouterr().out.count("[PASS] sparsity_loss") == 1


@pytest.mark.parametrize("name", list(CHECKS))
def test_a_check_refuses_what_is_not_a_function(name):
    with pytest.raises(TypeError, match=rf"check_{name} takes your function itself.*got a value of type Tensor"):
        CHECKS[name](torch.zeros(3))


def test_a_function_that_raises_fails_on_every_input_with_the_error():
    def broken(z):
        return z.sum(dim=5)

    result = check_sparsity_loss(broken)
    assert result.status == "fail"
    assert "differs from xmllib's reference on 6 of 6 inputs" in result.message
    assert "your function raised IndexError: Dimension out of range" in result.message


def test_a_function_that_returns_no_tensor_fails_saying_so():
    result = check_sparsity_loss(lambda z: "small")
    assert result.status == "fail" and "your function returned a str; return a tensor" in result.message


def test_a_function_cannot_change_the_inputs_of_the_next_cases():
    def in_place(z):
        return z.abs_().mean(dim=(1, 2))

    assert check_sparsity_loss(in_place).status == "pass"


def failure(result):
    """The message of a failed check (asserting that it failed)."""
    assert result.status == "fail", result.message
    return result.message


# Wrong implementations of each exercise, and the words their failure must contain.


def test_sparsity_summed_instead_of_averaged():
    message = failure(check_sparsity_loss(lambda z: z.abs().sum(dim=(1, 2))))
    assert "the first is: all-one heatmaps" in message
    assert "expected: [1, 1]\n  got:      [24, 24]" in message
    assert "every value is 24 times the expected one" in message
    assert "not their sum" in message


def test_sparsity_without_the_absolute_value():
    message = failure(check_sparsity_loss(lambda z: z.mean(dim=(1, 2))))
    assert "heatmaps with negative values" in message
    assert "the opposite sign" in message and "absolute values |z|" in message


@pytest.mark.parametrize("dims", [(0, 1), (0, 1, 2), (1,)])
def test_sparsity_over_the_wrong_axis(dims):
    message = failure(check_sparsity_loss(lambda z: z.abs().mean(dim=dims)))
    assert "instead of (2,): one value per heatmap" in message and "not over the batch (dim 0)" in message


def test_sparsity_that_squeezes_a_batch_of_one():
    message = failure(check_sparsity_loss(lambda z: z.abs().mean(dim=(1, 2)).squeeze()))
    assert "one heatmap (a batch of 1" in message and "shape () instead of (1,)" in message


def test_contiguity_divided_by_all_pixels():
    def contiguity(z):
        height, width = z.shape[1:]
        differences = (z[:, 1:] - z[:, :-1]).abs().sum(dim=(1, 2)) + (z[:, :, 1:] - z[:, :, :-1]).abs().sum(dim=(1, 2))
        return differences / (height * width)

    message = failure(check_contiguity_loss(contiguity))
    assert "heatmaps whose top row is 1" in message and "every value is 0.75 times" in message
    assert "(H - 1) x W vertical differences" in message


def test_contiguity_without_the_absolute_value():
    message = failure(check_contiguity_loss(
        lambda z: (z[:, 1:] - z[:, :-1]).mean(dim=(1, 2)) + (z[:, :, 1:] - z[:, :, :-1]).mean(dim=(1, 2))))
    assert "the opposite sign" in message and "|z[1, j] - z[0, j]|" in message


def test_contiguity_along_one_axis_only():
    message = failure(check_contiguity_loss(lambda z: 2 * (z[:, 1:] - z[:, :-1]).abs().mean(dim=(1, 2))))
    assert "top row is 1" in message and "every value is 2 times" in message
    assert "the H x (W - 1) horizontal ones are all 0" in message


def test_contiguity_along_the_batch_axis():
    message = failure(check_contiguity_loss(
        lambda z: (z[1:] - z[:-1]).abs().mean(dim=(1, 2)) + (z[:, :, 1:] - z[:, :, :-1]).abs().mean(dim=(1, 2))))
    assert "top row is 1" in message and "got:      [0, 0]" in message and "|z[1, j] - z[0, j]|" in message


def test_weakly_supervised_divided_by_all_pixels():
    message = failure(check_weakly_supervised_loss(lambda z, mask: ((1 - mask) * z).mean(dim=(1, 2)).abs()))
    assert "all-one heatmaps, box masks" in message and "every value is 0.75 times" in message
    assert "not by all H x W pixels" in message


def test_weakly_supervised_inside_the_mask():
    message = failure(check_weakly_supervised_loss(
        lambda z, mask, eps=1e-6: ((mask * z).sum(dim=(1, 2)) / (mask.sum(dim=(1, 2)) + eps)).abs()))
    assert "heatmaps lit inside their box only" in message and "the pixels outside it" in message


def test_weakly_supervised_without_eps():
    message = failure(check_weakly_supervised_loss(
        lambda z, mask: (((1 - mask) * z).sum(dim=(1, 2)) / (1 - mask).sum(dim=(1, 2))).abs()))
    assert "masks covering the whole image" in message and "got:      [nan, nan]" in message
    assert "a division by zero?" in message and "eps = 1e-6 in the denominator" in message


def test_weakly_supervised_without_the_absolute_value():
    message = failure(check_weakly_supervised_loss(
        lambda z, mask, eps=1e-6: ((1 - mask) * z).sum(dim=(1, 2)) / ((1 - mask).sum(dim=(1, 2)) + eps)))
    assert "the opposite sign" in message and "the absolute value of the mean outside the mask" in message


def test_inside_mask_divided_by_all_pixels():
    message = failure(check_inside_mask_loss(lambda z, mask: (mask * (1 - z)).mean(dim=(1, 2))))
    assert "all-zero heatmaps, box masks" in message and "not by all H x W pixels" in message


def test_inside_mask_with_the_heatmap_in_place_of_its_shortfall():
    message = failure(check_inside_mask_loss(
        lambda z, mask, eps=1e-6: (mask * z).sum(dim=(1, 2)) / (mask.sum(dim=(1, 2)) + eps)))
    assert "all-one heatmaps, box masks" in message and "falls short of nothing" in message


def test_inside_mask_without_eps():
    message = failure(check_inside_mask_loss(
        lambda z, mask: (mask * (1 - z)).sum(dim=(1, 2)) / mask.sum(dim=(1, 2))))
    assert "empty masks" in message and "got:      [nan, nan]" in message and "eps = 1e-6" in message


def test_joint_loss_with_the_weights_swapped():
    message = failure(check_joint_loss(lambda logits, labels, heatmaps, masks, alpha, beta, gamma: (
        (1 - alpha) * F.cross_entropy(logits, labels) + alpha * losses.hybrid_explanation_loss(heatmaps, masks, beta,
                                                                                               gamma))))
    assert "alpha 1 (phase 1)" in message and "only the classification term counts" in message


def test_joint_loss_that_sums_over_the_batch():
    message = failure(check_joint_loss(lambda logits, labels, heatmaps, masks, alpha, beta, gamma: (
        alpha * F.cross_entropy(logits, labels, reduction="sum")
        + (1 - alpha) * losses.hybrid_explanation_loss(heatmaps, masks, beta, gamma, reduction="sum"))))
    assert "alpha 1 (phase 1)" in message and "every value is 4 times the expected one" in message


def test_joint_loss_that_forgets_gamma():
    message = failure(check_joint_loss(lambda logits, labels, heatmaps, masks, alpha, beta, gamma: (
        alpha * F.cross_entropy(logits, labels) + (1 - alpha) * losses.hybrid_explanation_loss(heatmaps, masks, beta,
                                                                                               1.0))))
    assert "alpha 0.6, beta 0.3, gamma 3" in message and "gamma the mask term" in message


@pytest.mark.parametrize("pool", [
    lambda heatmap, size: F.adaptive_max_pool2d(heatmap, size),
    lambda heatmap, size: F.interpolate(heatmap, size=size, mode="nearest"),
])
def test_gate_with_max_pooling_or_nearest_resizing(pool):
    message = failure(check_gate(lambda features, heatmap: features * pool(heatmap, features.shape[-2:])))
    assert "one relevant pixel" in message and "every value is 16 times the expected one" in message
    assert "average pooling opens that cell's gate to 1/16 (max pooling would open it fully)" in message
    assert "expected: 0.0625 at index (0, 0, 0, 0)" in message


def test_gate_that_pools_with_a_fixed_kernel_passes():
    def gate_by_kernel(features, heatmap):
        return features * F.avg_pool2d(heatmap, heatmap.shape[-1] // features.shape[-1])

    assert check_gate(gate_by_kernel).status == "pass"


def test_gate_that_returns_the_pooled_heatmap_only():
    message = failure(check_gate(lambda features, heatmap: F.adaptive_avg_pool2d(heatmap, features.shape[-2:])))
    assert "instead of (2, 3, 4, 4)" in message and "multiplies every channel (broadcasting)" in message


TRAINS = {1: (False, True), 2: (True, False), 3: (True, True)}


def test_freeze_without_eval_mode_is_the_original_codes_mistake():
    def gradients_only(model, phase):
        for part, trains in zip((model.explainer, model.classifier), TRAINS[phase]):
            part.requires_grad_(trains)

    message = failure(check_freeze(gradients_only))
    assert "the first is: phase 1 for a new model" in message
    assert "the explainer: expected gradients on none of its parameters, eval mode" in message
    assert "got gradients on none of its parameters, train mode" in message
    assert "BatchNorm running statistics keep changing" in message


def test_freeze_that_never_unfreezes():
    def freeze_only(model, phase):
        for part, trains in zip((model.explainer, model.classifier), TRAINS[phase]):
            if not trains:
                part.requires_grad_(False)
                part.eval()

    message = failure(check_freeze(freeze_only))
    assert "the first is: phase 2 after phase 1" in message
    assert "the explainer: expected gradients on all of its parameters, train mode" in message


def test_freeze_with_the_phases_swapped():
    def swapped(model, phase):
        for part, trains in zip((model.classifier, model.explainer), TRAINS[phase]):
            part.requires_grad_(trains)
            part.train(trains)

    message = failure(check_freeze(swapped))
    assert "the explainer: expected" in message and "the classifier: expected" in message


def black_patches(model, images, heatmaps, patch_size, steps, *, order=patch_order, cumulative=True,
                  logits=False, current_class=False):
    """A MoRF curve by hand, with switches for typical mistakes."""
    scores = (lambda x: model(x)[0]) if logits else (lambda x: model(x)[0].softmax(dim=1))
    ranking = order(heatmaps, patch_size)
    per_row = images.shape[-1] // patch_size
    first = scores(images)
    predicted = first.argmax(dim=1, keepdim=True)
    curve, perturbed = [first.gather(1, predicted)], images.clone()
    for k in range(steps):
        if not cumulative:
            perturbed = images.clone()
        for i, patch in enumerate(ranking[:, k].tolist()):
            top, left = (patch // per_row) * patch_size, (patch % per_row) * patch_size
            perturbed[i, :, top:top + patch_size, left:left + patch_size] = 0.0
        probabilities = scores(perturbed)
        curve.append(probabilities.gather(1, probabilities.argmax(dim=1, keepdim=True) if current_class else predicted))
    return torch.cat(curve, dim=1)


def test_morf_curve_by_hand_passes():
    assert check_morf_curve(black_patches).status == "pass"


@pytest.mark.parametrize("mistake", [
    {"order": lambda heatmaps, size: patch_order(-heatmaps, size)},  # least relevant first
    {"cumulative": False},
    {"logits": True},
])
def test_morf_curve_mistakes_fail_on_the_hot_patch(mistake):
    message = failure(check_morf_curve(partial(black_patches, **mistake)))
    assert "the first is: heatmaps with one hot patch" in message
    assert "softmax probability of the class predicted for x^(0)" in message and "cumulatively" in message


def test_morf_curve_with_the_class_predicted_after_perturbing():
    message = failure(check_morf_curve(partial(black_patches, current_class=True)))
    assert "(entries that differ: 1 of 15)" in message and "the class predicted for x^(0)" in message


def test_morf_curve_without_the_unperturbed_column():
    message = failure(check_morf_curve(lambda *args: black_patches(*args)[:, 1:]))
    assert "shape (2, 3) instead of (2, 4): N rows (one per image) and steps + 1 columns" in message


def by_steps(curves):
    return torch.arange(1, curves.shape[1] + 1)


def test_aopc_without_dividing_by_l_plus_one():
    message = failure(check_aopc(lambda curves: (curves[:, :1] - curves).mean(dim=0).cumsum(dim=0)))
    assert "falls from 1 to 0" in message and "got:      [0, 1, 2, 3]" in message and "divided by L + 1" in message


def test_aopc_summed_over_the_images():
    message = failure(check_aopc(lambda curves: (curves[:, :1] - curves).sum(dim=0).cumsum(dim=0) / by_steps(curves)))
    assert "random curves, 4 images" in message and "every value is 4 times" in message
    assert "average the drops over the images" in message


def test_aopc_with_the_drops_the_wrong_way_round():
    message = failure(check_aopc(lambda curves: (curves - curves[:, :1]).mean(dim=0).cumsum(dim=0) / by_steps(curves)))
    assert "the opposite sign" in message


def test_aopc_with_absolute_drops():
    message = failure(check_aopc(
        lambda curves: (curves[:, :1] - curves).abs().mean(dim=0).cumsum(dim=0) / by_steps(curves)))
    assert "probability rises" in message and "no absolute values" in message


def test_aopc_over_the_wrong_axis():
    message = failure(check_aopc(lambda curves: (curves[:, :1] - curves).mean(dim=1)))
    assert "shape (2,) instead of (5,)" in message and "average over the images (dim 0)" in message


def test_pompom_divided_by_all_pixels():
    message = failure(check_pompom(lambda heatmaps, masks: ((1 - masks) * heatmaps > 1e-6).float().mean(dim=(1, 2, 3))))
    assert "all-one heatmaps" in message and "every value is 0.75 times" in message
    assert "not by all pixels" in message


def test_pompom_inside_the_mask():
    message = failure(check_pompom(
        lambda heatmaps, masks: ((masks * heatmaps > 1e-6).sum(dim=(1, 2, 3))
                                 / ((masks > 1e-6).sum(dim=(1, 2, 3)) + 1e-6))))
    assert "lit inside their box only" in message and "only the pixels outside the mask count" in message


@pytest.mark.parametrize("threshold, case", [(0.5, "faint heatmaps"), (0.0, "heatmaps of 1e-7")])
def test_pompom_with_another_threshold(threshold, case):
    def thresholded(heatmaps, masks):
        outside = 1 - masks
        return ((outside * heatmaps) > threshold).sum(dim=(1, 2, 3)) / ((outside > 1e-6).sum(dim=(1, 2, 3)) + 1e-6)

    message = failure(check_pompom(thresholded))
    assert f"the first is: {case}" in message and "eps = 1e-6" in message


def test_pompom_over_the_whole_batch():
    message = failure(check_pompom(lambda heatmaps, masks: ((1 - masks) * heatmaps > 1e-6).sum() / (1 - masks).sum()))
    assert "shape () instead of (2,): one value per image" in message
