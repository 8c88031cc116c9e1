"""Training in three phases (method.md section 3).

`train_phase` trains one phase: the modules the phase freezes get no gradient, are
left out of the optimiser and are put in eval mode (the original left them in
train mode, so their BatchNorm statistics drifted while "frozen"). After every
epoch the model is measured in eval mode over the val split and the train split
(or a fixed sample of it, `train_stats_images`),
ReduceLROnPlateau steps on the val loss, early stopping keeps the best weights,
a checkpoint is written atomically, and the callbacks are called. `train` runs the
three phases and resumes from the run folder's last checkpoint.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from xmllib.assembly import objective_from_config, optimizer_from_config
from xmllib.checkpoints import (
    CheckpointMismatch,
    checkpoint_dict,
    load_checkpoint,
    load_matching,
    save_checkpoint,
)
from xmllib.config import TRAINS, Config, PhaseConfig
from xmllib.data import measured_sample
from xmllib.losses import JointLoss, Objective, deletion_loss, head_range_penalty, joint_loss
from xmllib.models import ExplainerClassifier
from xmllib.models.modes import eval_mode, recalibrate_batchnorm
from xmllib.precision import autocast, grad_scaler

CHECKPOINT_NAME = "checkpoint.pt"

class NonFiniteError(RuntimeError):
    """Training met a NaN or infinite loss or weight; no checkpoint holds it, the last finite one is kept."""

    def __init__(self, phase: int, epoch: int, where: str, checkpoint: Path | None) -> None:
        kept = (f"the last good checkpoint, {checkpoint}, is kept" if checkpoint is not None and checkpoint.is_file()
                else "no checkpoint was written")
        super().__init__(
            f"{where} became NaN or infinite in phase {phase}, epoch {epoch}; training stopped and {kept}. "
            "Lower the learning rates or check the data."
        )
        self.phase, self.epoch, self.where = phase, epoch, where


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training: where it stopped, and how to go on."""

    def __init__(self, phase: int, epoch: int, checkpoint: Path | None) -> None:
        if checkpoint is not None and checkpoint.is_file():
            state = load_checkpoint(checkpoint)
            after = "the end of the phase" if state["phase_done"] else f"its epoch {state['epoch']}"
            kept = (f"{checkpoint} holds phase {state['phase']} up to {after}; the same command resumes from "
                    "there")
        else:
            kept = "no checkpoint was written yet, so the same command starts over"
        super().__init__(f"training interrupted in phase {phase}, epoch {epoch}; {kept}")
        self.phase, self.epoch = phase, epoch


class Callback:
    """Hooks into training, for live plots in notebooks. Override what you need."""

    def on_epoch_end(self, history: pd.DataFrame, model: ExplainerClassifier) -> None:
        """Called after each epoch with the history so far (all phases) and the model."""

    def on_phase_end(self, history: pd.DataFrame, model: ExplainerClassifier) -> None:
        """Called after each phase, once the best weights are restored."""


#: `keep` "accurate" (ours): an epoch of phase 2 or 3 may be kept only when its val accuracy is at least the
#: accuracy of the weights the phase started from, less this margin
ACCURACY_MARGIN = 0.05


@dataclass
class EarlyStopping:
    """Stops after `patience` epochs without a lower val loss; remembers the weights to keep.

    An epoch may be kept only when its val accuracy reaches `accuracy_floor` (0: any
    epoch, the paper's rule); among those, the one with the lowest val loss. When no
    epoch reaches the floor, the most accurate one is kept. `kept_epoch` applies the
    same rule to a history.
    """

    patience: int
    accuracy_floor: float = 0.0
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_state: dict[str, Tensor] | None = None
    fallback_accuracy: float = -math.inf
    fallback_epoch: int = 0
    fallback_state: dict[str, Tensor] | None = None

    @property
    def stopped(self) -> bool:
        """True once `patience` epochs in a row brought no improvement."""
        return self.bad_epochs >= self.patience

    def step(self, loss: float, epoch: int, model: nn.Module, accuracy: float = 1.0) -> bool:
        """Record one epoch's val loss and accuracy; True when training should stop."""
        if accuracy >= self.accuracy_floor and loss < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = loss, epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
            self.fallback_state = None
            return self.stopped
        self.bad_epochs += 1
        if self.best_state is None and accuracy > self.fallback_accuracy:
            self.fallback_accuracy, self.fallback_epoch = accuracy, epoch
            self.fallback_state = copy.deepcopy(model.state_dict())
        return self.stopped

    @property
    def kept_epoch(self) -> int:
        """The epoch whose weights `restore` loads (0: none yet)."""
        return self.best_epoch if self.best_state is not None else self.fallback_epoch

    def restore(self, model: nn.Module) -> None:
        """Load the weights to keep, if any."""
        state = self.best_state if self.best_state is not None else self.fallback_state
        if state is not None:
            model.load_state_dict(state)

    def state_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def set_trainable(module: nn.Module, trainable: bool) -> None:
    """Train a module (gradients, train mode) or freeze it (no gradients, eval mode)."""
    module.requires_grad_(trainable)
    module.train(trainable)


def prepare_phase(model: ExplainerClassifier, phase: int) -> None:
    """Freeze and unfreeze the explainer and classifier as `phase` prescribes."""
    trains_explainer, trains_classifier = TRAINS[phase]
    set_trainable(model.explainer, trains_explainer)
    set_trainable(model.classifier, trains_classifier)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and GPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _seed_epoch(config: Config, phase: int, epoch: int, loader: DataLoader) -> None:
    """Seed everything from (seed, phase, epoch), so a resumed run repeats the same epochs."""
    seed = config.seed * 10_000 + phase * 1_000 + epoch
    seed_everything(seed)
    if loader.generator is not None:
        loader.generator.manual_seed(seed)
    augmentation = getattr(loader.dataset, "augmentation", None)
    if augmentation is not None:
        augmentation.set_random_seed(seed)


def _batch_loss(model: ExplainerClassifier, batch: Mapping[str, Tensor], objective: Objective,
                precision: str = "auto") -> tuple[JointLoss, Tensor]:
    """The joint loss of one batch under `objective` (with our extra terms when it weighs them) and its logits."""
    device = next(model.parameters()).device
    images = batch["image"].to(device, non_blocking=True)
    labels = batch["label"].to(device, non_blocking=True)
    mask = batch["mask"].to(device, non_blocking=True)
    mask_valid = batch["has_mask"].to(device, non_blocking=True)
    capture = model.explainer.capture_preactivation() if objective.head_penalty > 0 else nullcontext([])
    with capture as preactivation, autocast(precision, device):
        logits, heatmap = model(images)
    logits, heatmap = logits.float(), heatmap.float()
    loss = joint_loss(logits, labels, heatmap, objective, mask=mask, mask_valid=mask_valid)
    if objective.head_penalty > 0:
        penalty = head_range_penalty(preactivation[0].float(), *model.explainer.active_range)
        loss = objective.with_term(loss, penalty, objective.head_penalty)
    if objective.deletion > 0 and objective.alpha < 1:
        applies = mask_valid & (mask.flatten(1).amax(dim=1) > 0)
        with autocast(precision, device):
            deleted = model.classify(images, 1.0 - heatmap)
        loss = objective.with_term(loss, deletion_loss(deleted.float(), labels, applies), objective.deletion)
    return loss, logits


@torch.no_grad()
def measure_split(model: ExplainerClassifier, loader: DataLoader, objective: Objective,
                  precision: str = "auto") -> dict[str, float]:
    """The losses and accuracy of a whole split under `objective`, in eval mode (training modes are restored).

    Each loss is what one batch holding the whole split would give: the classification
    loss is the class-weighted mean over all images (sum of w_y * CE over the sum of
    w_y), not a mean of per-batch means, so it does not depend on the batch size.
    """
    weights = objective.class_weights
    clf_sum = clf_weight = expl_sum = correct = 0.0
    count = 0
    with eval_mode(model):
        for batch in loader:
            loss, logits = _batch_loss(model, batch, objective, precision)
            labels = batch["label"].to(logits.device)
            weight = weights[labels].sum().item() if weights is not None else float(len(labels))
            clf_sum += loss.classification.item() * weight
            clf_weight += weight
            expl_sum += loss.explanation.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            count += len(labels)
    clf_loss, expl_loss = clf_sum / clf_weight, expl_sum / count
    return {
        "loss": objective.combine(clf_loss, expl_loss),
        "clf_loss": clf_loss,
        "expl_loss": expl_loss,
        "accuracy": correct / count,
    }


@dataclass
class PhaseRun:
    """What every epoch of one phase shares: the model, its configuration and phase, the objective it
    minimises, its optimiser, and where its checkpoint goes (None: nowhere)."""

    model: ExplainerClassifier
    config: Config
    phase: PhaseConfig
    objective: Objective
    optimizer: torch.optim.Optimizer
    checkpoint: Path | None = None

    def measure(self, loader: DataLoader) -> dict[str, float]:
        """`measure_split` of one split under this phase's objective."""
        return measure_split(self.model, loader, self.objective, self.config.precision)


def _train_epoch(run: PhaseRun, loader: DataLoader, epoch: int) -> None:
    prepare_phase(run.model, run.phase.phase)
    # the text bar shows in a terminal only (disable=None: off without a TTY), so a notebook keeps
    # no progress-bar residue; notebooks draw their own progress (xmllib.course.live)
    bar = tqdm(loader, desc=f"phase {run.phase.phase} epoch {epoch}", leave=False, disable=None)
    scaler = grad_scaler(run.config.precision, next(run.model.parameters()).device)
    for batch_number, batch in enumerate(bar, start=1):
        loss, _ = _batch_loss(run.model, batch, run.objective, run.config.precision)
        if not torch.isfinite(loss.total):
            raise NonFiniteError(run.phase.phase, epoch, f"the loss of batch {batch_number}", run.checkpoint)
        run.optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss.total).backward()
        scaler.step(run.optimizer)
        scaler.update()
        bar.set_postfix(loss=f"{loss.total.item():.4f}")


def _train_and_measure(run: PhaseRun, train_loader: DataLoader, measured: Mapping[str, DataLoader],
                       epoch: int) -> dict[str, Any]:
    """Train one epoch, then measure the `measured` splits: the epoch's history row.

    NonFiniteError when a measured loss or a weight is no longer finite, before any
    checkpoint could keep it.
    """
    began = time.perf_counter()
    phase, model = run.phase.phase, run.model
    _seed_epoch(run.config, phase, epoch, train_loader)
    _train_epoch(run, train_loader, epoch)
    row: dict[str, Any] = {"phase": phase, "epoch": epoch, **_learning_rates(run.optimizer)}
    broken = [name for name, value in model.state_dict().items()
              if value.is_floating_point() and not torch.isfinite(value).all()]
    if broken:
        raise NonFiniteError(phase, epoch, f"the weight {broken[0]} (after the last batch)", run.checkpoint)
    if run.config.recalibrate_bn and TRAINS[phase][1]:
        device = next(model.parameters()).device
        recalibrate_batchnorm(model, model.classifier, (batch["image"].to(device) for batch in measured["train"]))
    for split, loader in measured.items():
        stats = run.measure(loader)
        if not all(math.isfinite(value) for value in stats.values()):
            raise NonFiniteError(phase, epoch, f"the {split} loss measured after the last batch", run.checkpoint)
        row.update({f"{split}_{key}": value for key, value in stats.items()})
    row["seconds"] = time.perf_counter() - began
    return row


def measured_splits(loaders: Mapping[str, DataLoader], config: Config) -> dict[str, DataLoader]:
    """What the per-epoch statistics measure: the seeded `train_stats_images` sample of the train split
    (unaugmented) and the whole val split."""
    return {"train": measured_sample(loaders["train"], config.train_stats_images, config.seed),
            "val": loaders["val"]}


def train_phase(
    model: ExplainerClassifier,
    config: Config,
    phase_number: int,
    loaders: Mapping[str, DataLoader],
    *,
    class_names: Sequence[str],
    out_dir: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    history: pd.DataFrame | None = None,
    resume_state: Mapping[str, Any] | None = None,
    class_weights: Tensor | None = None,
) -> pd.DataFrame:
    """Train one phase; returns the history of all phases so far (docs/design.md columns).

    `resume_state` is a checkpoint of this phase to continue from. With `out_dir`,
    a checkpoint is written there after every epoch.
    """
    phase = config.phase(phase_number)
    checkpoint = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
    rows = [] if history is None else history.to_dict("records")
    optimizer = optimizer_from_config(config, model, phase)
    run = PhaseRun(model, config, phase, objective_from_config(config, phase, class_weights), optimizer, checkpoint)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.2, patience=2)
    stopper = EarlyStopping(phase.patience)
    start = 1
    if resume_state is None and config.keep == "accurate" and phase.phase > 1:
        started = run.measure(loaders["val"])
        stopper.accuracy_floor = started["accuracy"] - ACCURACY_MARGIN
    if resume_state is not None:
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        stopper.load_state_dict(resume_state["early_stopping"])
        start = resume_state["epoch"] + 1
    measured = measured_splits(loaders, config)
    epoch = start
    try:
        for epoch in range(start, phase.epochs_for(len(loaders["train"])) + 1):
            if stopper.stopped:
                break
            row = _train_and_measure(run, loaders["train"], measured, epoch)
            row["val_accuracy_floor"] = stopper.accuracy_floor
            rows.append(row)
            scheduler.step(row["val_loss"])
            stopper.step(row["val_loss"], epoch, model, row["val_accuracy"])
            state = {"phase": phase.phase, "epoch": epoch, "phase_done": False, "history": rows}
            if checkpoint is not None:
                save_checkpoint(checkpoint, _checkpoint_state(config, class_names, model, optimizer, scheduler,
                                                              stopper, state))
            history = pd.DataFrame(rows)
            for callback in callbacks:
                callback.on_epoch_end(history, model)
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, TrainingInterrupted):
            raise
        raise TrainingInterrupted(phase.phase, epoch, checkpoint) from None
    stopper.restore(model)
    if checkpoint is not None:
        state = {"phase": phase.phase, "epoch": len([r for r in rows if r["phase"] == phase.phase]),
                 "phase_done": True, "history": rows}
        save_checkpoint(checkpoint, _checkpoint_state(config, class_names, model, optimizer, scheduler,
                                                      stopper, state))
    history = pd.DataFrame(rows)
    for callback in callbacks:
        callback.on_phase_end(history, model)
    return history


def _learning_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    rates = {"lr_clf": 0.0, "lr_expl": 0.0}
    for group in optimizer.param_groups:
        rates["lr_clf" if group["name"] == "classifier" else "lr_expl"] = group["lr"]
    return rates


def _checkpoint_state(config: Config, class_names: Sequence[str], model: nn.Module,
                      optimizer: torch.optim.Optimizer, scheduler: Any, stopper: EarlyStopping,
                      progress: dict[str, Any]) -> dict[str, Any]:
    return checkpoint_dict(config, class_names, model, **progress, optimizer=optimizer.state_dict(),
                           scheduler=scheduler.state_dict(), early_stopping=stopper.state_dict())


def train(
    model: ExplainerClassifier,
    config: Config,
    loaders: Mapping[str, DataLoader],
    *,
    class_names: Sequence[str],
    out_dir: str | Path | None = None,
    callbacks: Iterable[Callback] = (),
    phases: Sequence[int] = (1, 2, 3),
    resume: bool = True,
    class_weights: Tensor | None = None,
) -> pd.DataFrame:
    """Run `phases` in order; with `out_dir` and `resume`, continue from its last checkpoint.

    Returns the history of every phase, one row per epoch.
    """
    torch.set_flush_denormal(True)
    device = next(model.parameters()).device
    history: pd.DataFrame | None = None
    state = None
    checkpoint = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
    if resume and checkpoint is not None:
        state = _resumable_state(checkpoint, config, class_names, device)
    if state is not None:
        model.load_state_dict(state["model"])
        history = pd.DataFrame(state["history"])
    for phase in phases:
        resume_state = None
        if state is not None:
            if phase < state["phase"] or (phase == state["phase"] and state["phase_done"]):
                continue
            if phase == state["phase"]:
                resume_state = state
        history = train_phase(
            model, config, phase, loaders, class_names=class_names, out_dir=out_dir,
            callbacks=callbacks, history=history, resume_state=resume_state, class_weights=class_weights,
        )
    model.eval()
    return history if history is not None else pd.DataFrame()


def _resumable_state(path: Path, config: Config, class_names: Sequence[str],
                     device: torch.device) -> dict[str, Any] | None:
    """The checkpoint to resume from, if any; it must have been written by this run's configuration and classes."""
    try:
        return load_matching(path, config, device, class_names=list(class_names))
    except CheckpointMismatch as mismatch:
        raise CheckpointMismatch(
            f"{mismatch}; use another output folder, or pass resume=False (--no-resume) to start over") from None
