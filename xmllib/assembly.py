"""Where a Config becomes objects: the model, the data loaders, and each phase's optimiser and objective.

Training, the run folders, the evaluation report, the notebooks and the benchmarks build
these through here, so that one configuration always means the same model and data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader

from xmllib.config import TRAINS, Config, PhaseConfig, resolve_device
from xmllib.data import IndexDataset, make_loaders, read_index
from xmllib.losses import Objective
from xmllib.models import ExplainerClassifier, build_model
from xmllib.optimizers import build_optimizer
from xmllib.precision import memory_format


def model_from_config(config: Config, num_classes: int) -> ExplainerClassifier:
    """A new model (on the CPU) as `config` describes it: the one place a Config becomes a model."""
    return build_model(
        config.classifier,
        num_classes,
        gates=config.gates,
        explainer_width=config.explainer_width,
        init_bias=config.init_bias,
        head=config.head,
        pretrained=config.pretrained,
        mean=config.norm_mean,
        std=config.norm_std,
        gate_norm=config.gate_norm,
    )


def place_model(model: ExplainerClassifier, config: Config,
                device: str | torch.device | None = None) -> ExplainerClassifier:
    """`model` moved to `device` (default: the config's) in the memory layout the config asks for there."""
    target = resolve_device(config.device if device is None else str(device))
    return model.to(target).to(memory_format=memory_format(config.memory_format, target))


def loaders_from_config(index: str | Path | pd.DataFrame, config: Config,
                        n_train: int | None = None) -> dict[str, DataLoader]:
    """`make_loaders` as a configuration says (image size, batch size, augmentation, seed, workers).

    `n_train`: train on the first `n_train` images of the train split only (the other splits whole).
    """
    frame = index if isinstance(index, pd.DataFrame) else read_index(index)
    if n_train is not None:
        if n_train < 1:
            raise ValueError(f"n_train is the number of training images to keep and must be >= 1, got {n_train}")
        train_rows = frame.index[frame["split"] == "train"]
        frame = frame.drop(train_rows[n_train:])
    return make_loaders(frame, config.image_size, config.batch_size, config.aug_prob, config.seed,
                        config.num_workers)


def split_loader(index: pd.DataFrame, split: str, config: Config, class_names: list[str]) -> DataLoader:
    """A loader over one split of an index, in order, for a saved model's configuration."""
    dataset = IndexDataset(index, split, config.image_size, classes=class_names)
    return DataLoader(dataset, batch_size=config.batch_size, num_workers=config.num_workers)


def optimizer_from_config(config: Config, model: ExplainerClassifier, phase: PhaseConfig) -> torch.optim.Optimizer:
    """An optimiser over the modules this phase trains only, each with its own learning rate."""
    trains_explainer, trains_classifier = TRAINS[phase.phase]
    groups = []
    if trains_classifier:
        groups.append({"params": list(model.classifier.parameters()), "lr": phase.lr_clf, "name": "classifier"})
    if trains_explainer:
        groups.append({"params": list(model.explainer.parameters()), "lr": phase.lr_expl, "name": "explainer"})
    return build_optimizer(config.optimizer, groups)


def objective_from_config(config: Config, phase: PhaseConfig, class_weights: torch.Tensor | None = None) -> Objective:
    """The loss `phase` minimises, as `config` describes it, with optional per-class weights of the cross-entropy."""
    return Objective(alpha=phase.alpha, beta=config.beta, gamma=config.gamma, loss=config.loss,
                     weak_term=config.weak_term, area=config.area, head_penalty=config.head_penalty,
                     deletion=config.deletion, class_weights=class_weights)
