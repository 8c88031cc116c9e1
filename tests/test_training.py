"""Training: freezing, determinism, checkpoints and resume, non-finite losses, early stopping."""

import dataclasses
import math

import pandas as pd
import pytest
import torch

from xmllib.assembly import model_from_config, objective_from_config, optimizer_from_config
from xmllib.checkpoints import load_checkpoint
from xmllib.data import make_loaders
from xmllib.evaluation.verdicts import kept_epoch
from xmllib.models import build_model
from xmllib.training import CHECKPOINT_NAME, Callback, EarlyStopping, NonFiniteError, train, train_phase

CLASSES = ["no_triangle", "triangle"]


def phase_objective(config, alpha, class_weights=None):
    """The objective `config` sets for phase 3 (every term it weighs), at classification weight `alpha`."""
    return dataclasses.replace(objective_from_config(config, config.phase(3)), alpha=alpha, class_weights=class_weights)


def setup(index, config):
    torch.manual_seed(config.seed)
    loaders = make_loaders(index, config.image_size, config.batch_size, config.aug_prob, config.seed)
    model = model_from_config(config, 2)
    return model, loaders


def snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def assert_identical(before, module):
    after = module.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key


def assert_changed(before, module):
    after = module.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())


@pytest.mark.parametrize("phase, frozen, trained", [(1, "explainer", "classifier"), (2, "classifier", "explainer")])
def test_frozen_module_is_bit_identical(tiny_index, tiny_config, phase, frozen, trained):
    model, loaders = setup(tiny_index, tiny_config.replace(lr_clf=(1e-2, 0, 1e-2), lr_expl=(0, 1e-2, 1e-2)))
    config = tiny_config.replace(lr_clf=(1e-2, 0, 1e-2), lr_expl=(0, 1e-2, 1e-2))
    frozen_before, trained_before = snapshot(getattr(model, frozen)), snapshot(getattr(model, trained))
    train_phase(model, config, phase, loaders, class_names=CLASSES)
    assert_identical(frozen_before, getattr(model, frozen))  # weights and BatchNorm statistics
    assert_changed(trained_before, getattr(model, trained))


def test_recalibrated_batchnorm_statistics_fit_the_last_weights_and_spare_a_frozen_classifier(tiny_index, tiny_config):
    from xmllib.data import measured_sample
    from xmllib.models.modes import recalibrate_batchnorm

    config = tiny_config.replace(recalibrate_bn=True, lr_expl=(0, 1e-2, 1e-2))
    model, loaders = setup(tiny_index, config)
    history = train_phase(model, config, 1, loaders, class_names=CLASSES)
    after_phase1 = snapshot(model.classifier)
    sample = measured_sample(loaders["train"], config.train_stats_images, config.seed)
    recalibrate_batchnorm(model, model.classifier, (batch["image"] for batch in sample))
    assert all(torch.allclose(after_phase1[k], v, atol=1e-6) for k, v in model.classifier.state_dict().items())
    model.classifier.load_state_dict(after_phase1)
    train_phase(model, config, 2, loaders, class_names=CLASSES, history=history)
    assert_identical(after_phase1, model.classifier)


def test_optimizer_holds_only_the_trained_module(tiny_config):
    model = build_model("resnet18", 2, explainer_width=4)
    for phase, names in [(1, {"classifier"}), (2, {"explainer"}), (3, {"classifier", "explainer"})]:
        optimizer = optimizer_from_config(tiny_config, model, tiny_config.phase(phase))
        assert {g["name"] for g in optimizer.param_groups} == names
    optimizer = optimizer_from_config(tiny_config, model, tiny_config.phase(3))
    held = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert held == {id(p) for p in model.parameters()}


def test_same_seed_same_history(tiny_index, tiny_config):
    histories = []
    for _ in range(2):
        model, loaders = setup(tiny_index, tiny_config)
        histories.append(train(model, tiny_config, loaders, class_names=CLASSES).drop(columns="seconds"))
    pd.testing.assert_frame_equal(histories[0], histories[1])
    assert list(histories[0]["phase"]) == [1, 2, 3]
    assert {"train_loss", "val_loss", "train_accuracy", "val_expl_loss", "lr_clf", "lr_expl"} <= set(histories[0])


class Interrupt(Callback):
    """Simulates a crash (Ctrl-C) after a given epoch of a given phase."""

    def __init__(self, phase, epoch):
        self.phase, self.epoch = phase, epoch

    def on_epoch_end(self, history, model):
        last = history.iloc[-1]
        if (last["phase"], last["epoch"]) == (self.phase, self.epoch):
            raise KeyboardInterrupt


def test_resume_after_interruption_repeats_the_uninterrupted_run(tiny_index, tiny_config, tmp_path):
    config = tiny_config.replace(epochs=(1, 2, 1))
    model, loaders = setup(tiny_index, config)
    reference = train(model, config, loaders, class_names=CLASSES, out_dir=tmp_path / "a")
    reference_state = snapshot(model)

    model, loaders = setup(tiny_index, config)
    with pytest.raises(KeyboardInterrupt):
        train(model, config, loaders, class_names=CLASSES, out_dir=tmp_path / "b", callbacks=[Interrupt(2, 1)])
    saved = load_checkpoint(tmp_path / "b" / CHECKPOINT_NAME)
    assert (saved["phase"], saved["epoch"], saved["phase_done"]) == (2, 1, False)

    model, loaders = setup(tiny_index, config)
    resumed = train(model, config, loaders, class_names=CLASSES, out_dir=tmp_path / "b")
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), reference.drop(columns="seconds"))
    assert_identical(reference_state, model)


def test_resume_refuses_another_configuration(tiny_index, tiny_config, tmp_path):
    model, loaders = setup(tiny_index, tiny_config)
    train(model, tiny_config, loaders, class_names=CLASSES, out_dir=tmp_path, phases=(1,))
    with pytest.raises(ValueError, match=r"another configuration \(gamma: 3.0, not 2.0\); use another output "
                                         r"folder, or pass resume=False \(--no-resume\)"):
        train(model, tiny_config.replace(gamma=2.0), loaders, class_names=CLASSES, out_dir=tmp_path)
    with pytest.raises(ValueError, match="another class names"):
        train(model, tiny_config, loaders, class_names=["a", "b"], out_dir=tmp_path)


class PoisonAfterPhase(Callback):
    """Makes the explainer's output NaN once phase 1 is over."""

    def on_phase_end(self, history, model):
        if history.iloc[-1]["phase"] == 1:
            with torch.no_grad():
                next(model.explainer.parameters()).fill_(math.nan)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_index, tiny_config, tmp_path):
    model, loaders = setup(tiny_index, tiny_config)
    with pytest.raises(NonFiniteError, match="the loss of batch 1 became NaN or infinite in phase 2, epoch 1") \
            as error:
        train(model, tiny_config, loaders, class_names=CLASSES, out_dir=tmp_path, callbacks=[PoisonAfterPhase()])
    assert str(tmp_path / CHECKPOINT_NAME) in str(error.value)
    saved = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert (saved["phase"], saved["phase_done"]) == (1, True)
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_divergence_within_the_last_batch_writes_no_checkpoint(tiny_index, tiny_config, tmp_path):
    config = tiny_config.replace(optimizer="sgd", lr_clf=(1e6, 0.0, 1e6), batch_size=16)  # one batch per epoch
    model, loaders = setup(tiny_index, config)
    assert len(loaders["train"]) == 1
    with pytest.raises(NonFiniteError, match=r"became NaN or infinite in phase 1, epoch 1; training stopped "
                                                 r"and no checkpoint was written"):
        train(model, config, loaders, class_names=CLASSES, out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_val_loss_is_the_class_weighted_mean_over_the_split_whatever_the_batch_size(tiny_index, tiny_config):
    from torch.utils.data import DataLoader

    from xmllib.data import IndexDataset
    from xmllib.training import measure_split

    torch.manual_seed(0)
    model = model_from_config(tiny_config, 2)
    weights = torch.tensor([1.0, 3.0])
    dataset = IndexDataset(tiny_index, "val", 32)
    by_batch = [measure_split(model, DataLoader(dataset, batch_size=size), phase_objective(tiny_config, 0.6, weights))
                for size in (1, 3, 8)]
    with torch.no_grad():
        model.eval()
        logits, _ = model(torch.stack([dataset[i]["image"] for i in range(len(dataset))]))
    expected = torch.nn.CrossEntropyLoss(weight=weights)(logits, dataset.labels).item()
    for stats in by_batch:
        assert stats["clf_loss"] == pytest.approx(expected, rel=1e-5)
        assert stats["loss"] == pytest.approx(0.6 * expected + 0.4 * stats["expl_loss"], rel=1e-6)
        assert stats["expl_loss"] == pytest.approx(by_batch[0]["expl_loss"], rel=1e-5)


def test_train_statistics_are_measured_on_the_whole_split_without_augmentation(tiny_index, tiny_config):
    from torch.utils.data import DataLoader

    from xmllib.data import IndexDataset
    from xmllib.training import measure_split

    config = tiny_config.replace(aug_prob=1.0, batch_size=5)  # 16 train images: the last batch of 1 is dropped
    model, loaders = setup(tiny_index, config)
    assert loaders["train"].drop_last
    history = train_phase(model, config, 1, loaders, class_names=CLASSES)
    plain = DataLoader(IndexDataset(tiny_index, "train", 32), batch_size=16)
    expected = measure_split(model, plain, phase_objective(config, config.phase(1).alpha))
    assert history.iloc[-1]["train_loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert history.iloc[-1]["train_accuracy"] == expected["accuracy"]


def test_early_stopping_restores_the_best_weights():
    layer = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(patience=2)
    for epoch, loss in enumerate([3.0, 1.0, 2.0, 2.5], start=1):
        with torch.no_grad():
            layer.weight.fill_(epoch)
        stop = stopper.step(loss, epoch, layer)
    assert stop and stopper.best_epoch == 2
    stopper.restore(layer)
    assert layer.weight.item() == 2.0


def _stepped(floor, epochs):
    """An EarlyStopping with `floor` after the epochs (val loss, val accuracy), weights = epoch number."""
    layer, stopper = torch.nn.Linear(1, 1), EarlyStopping(patience=10, accuracy_floor=floor)
    for epoch, (loss, accuracy) in enumerate(epochs, start=1):
        with torch.no_grad():
            layer.weight.fill_(epoch)
        stopper.step(loss, epoch, layer, accuracy)
    stopper.restore(layer)
    history = pd.DataFrame({"phase": 2, "epoch": range(1, len(epochs) + 1), "val_loss": [e[0] for e in epochs],
                            "val_accuracy": [e[1] for e in epochs], "val_accuracy_floor": floor})
    return stopper, int(layer.weight.item()), int(kept_epoch(history, 2)["epoch"])


@pytest.mark.parametrize("floor, epochs, expected", [
    (0.0, [(1.0, 0.95), (0.5, 0.50), (0.7, 0.93), (0.4, 0.60)], 4),  # the paper's rule: the lowest loss
    (0.9, [(1.0, 0.95), (0.5, 0.50), (0.7, 0.93), (0.4, 0.60)], 3),  # the lowest loss of the accurate epochs
    (0.9, [(0.5, 0.60), (0.4, 0.70), (0.3, 0.65)], 2),  # none accurate: the most accurate
    (0.9, [(0.5, 0.60), (0.9, 0.91), (0.3, 0.65)], 2),  # one accurate epoch beats a lower loss
])
def test_the_kept_epoch_is_accurate_enough_and_history_and_weights_agree(floor, epochs, expected):
    stopper, restored, from_history = _stepped(floor, epochs)
    assert stopper.kept_epoch == restored == from_history == expected


def test_phase_2_keeps_an_epoch_within_the_margin_of_the_accuracy_it_started_from(tiny_index, tiny_config):
    from xmllib.training import ACCURACY_MARGIN, measure_split

    config = tiny_config.replace(keep="accurate", epochs=(2, 2, 0))
    model, loaders = setup(tiny_index, config)
    history = train_phase(model, config, 1, loaders, class_names=CLASSES)
    started = measure_split(model, loaders["val"], phase_objective(config, config.phase(2).alpha))["accuracy"]
    history = train_phase(model, config, 2, loaders, class_names=CLASSES, history=history)
    assert (history[history["phase"] == 1]["val_accuracy_floor"] == 0.0).all()
    assert history[history["phase"] == 2]["val_accuracy_floor"].tolist() == [started - ACCURACY_MARGIN] * 2
    kept = kept_epoch(history, 2)
    measured = measure_split(model, loaders["val"], phase_objective(config, config.phase(2).alpha))
    assert measured["loss"] == pytest.approx(kept["val_loss"], rel=1e-5)


def test_callbacks_see_every_epoch(tiny_index, tiny_config):
    seen = []

    class Record(Callback):
        def on_epoch_end(self, history, model):
            seen.append((len(history), model.training))

    model, loaders = setup(tiny_index, tiny_config)
    train(model, tiny_config, loaders, class_names=CLASSES, callbacks=[Record()])
    assert [n for n, _ in seen] == [1, 2, 3]


def test_head_penalty_joins_the_loss_as_an_explicit_computation_says(tiny_index, tiny_config):
    from xmllib.losses import Objective, head_range_penalty, joint_loss
    from xmllib.models.explainer import ACTIVE_RANGES
    from xmllib.training import _batch_loss

    config = tiny_config.replace(head="sigmoid", init_bias=6.0, head_penalty=2.0)
    torch.manual_seed(0)
    model = build_model("resnet18", 2, explainer_width=4, init_bias=6.0, head="sigmoid").eval()
    batch = next(iter(make_loaders(tiny_index, 32, 8, 0.0, 0)["val"]))
    loss, _ = _batch_loss(model, batch, phase_objective(config, 0.6))
    with model.explainer.capture_preactivation() as captured:
        logits, heatmap = model(batch["image"])
    plain = joint_loss(logits, batch["label"], heatmap,
                       Objective(0.6, config.beta, config.gamma, weak_term=config.weak_term),
                       mask=batch["mask"], mask_valid=batch["has_mask"])
    penalty = head_range_penalty(captured[0], *ACTIVE_RANGES["sigmoid"])
    assert penalty.item() > 0 and torch.allclose(torch.sigmoid(captured[0]), heatmap)
    assert loss.total.item() == pytest.approx(plain.total.item() + 0.4 * 2.0 * penalty.item(), rel=1e-5)


@pytest.mark.parametrize("gate_norm", ["none", "max"])
def test_the_deletion_loss_joins_the_loss_as_an_explicit_multiply_behind_one_minus_the_map_says(
        tiny_index, tiny_config, gate_norm):
    from xmllib.losses import Objective, joint_loss
    from xmllib.training import _batch_loss

    config = tiny_config.replace(head_penalty=0.0, deletion=0.5, gate_norm=gate_norm)
    torch.manual_seed(0)
    model = model_from_config(config, 2).eval()
    batch = next(iter(make_loaders(tiny_index, 32, 8, 0.0, 0)["val"]))
    loss, _ = _batch_loss(model, batch, phase_objective(config, 0.6))
    logits, heatmap = model(batch["image"])
    plain = joint_loss(logits, batch["label"], heatmap,
                       Objective(0.6, config.beta, config.gamma, weak_term=config.weak_term),
                       mask=batch["mask"], mask_valid=batch["has_mask"])
    removed = 1.0 - heatmap
    if gate_norm == "max":
        removed = model.gate_level * removed / removed.amax(dim=(2, 3), keepdim=True)
    deleted = model.classifier((batch["image"] - model.mean) / model.std, removed)
    p_true = deleted.softmax(1).gather(1, batch["label"][:, None])[:, 0]
    has_target = batch["mask"].flatten(1).amax(dim=1) > 0
    assert has_target.any() and not has_target.all()
    expected = (-torch.log1p(-p_true) * has_target).mean()
    assert loss.total.item() == pytest.approx(plain.total.item() + 0.4 * 0.5 * expected.item(), rel=1e-4)


def test_phase_1_has_no_deletion_loss(tiny_index, tiny_config):
    from xmllib.training import _batch_loss

    torch.manual_seed(0)
    model = model_from_config(tiny_config, 2).eval()
    batch = next(iter(make_loaders(tiny_index, 32, 8, 0.0, 0)["val"]))
    with_deletion = _batch_loss(model, batch, phase_objective(tiny_config.replace(deletion=1.0), 1.0))[0]
    without = _batch_loss(model, batch, phase_objective(tiny_config, 1.0))[0]
    assert with_deletion.total.item() == without.total.item()


def test_a_runs_area_reaches_the_loss_in_the_place_of_the_sparsity_term(tiny_index, tiny_config):
    from xmllib.losses import Objective, area_loss, joint_loss, sparsity_loss
    from xmllib.training import _batch_loss

    config = tiny_config.replace(head_penalty=0.0, area=0.1)
    torch.manual_seed(0)
    model = model_from_config(config, 2).eval()
    batch = next(iter(make_loaders(tiny_index, 32, 8, 0.0, 0)["val"]))
    loss, _ = _batch_loss(model, batch, phase_objective(config, 0.6))
    logits, heatmap = model(batch["image"])
    paper = joint_loss(logits, batch["label"], heatmap,
                       Objective(0.6, config.beta, config.gamma, weak_term=config.weak_term),
                       mask=batch["mask"], mask_valid=batch["has_mask"])
    swap = config.beta * (area_loss(heatmap, 0.1) - sparsity_loss(heatmap))
    assert abs(swap.item()) > 1e-3
    assert loss.explanation.item() == pytest.approx(paper.explanation.item() + swap.item(), rel=1e-5)
