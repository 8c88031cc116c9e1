"""Checkpoints: written atomically, read back into a ready model.

A checkpoint is a dict (docs/design.md): config, class_names, phase, epoch, model,
optimizer, scheduler, early_stopping, history, rng. It is written to a temporary
file in the same folder and moved into place with `os.replace`, so an interrupted
write never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from xmllib.config import Config, resolve_device
from xmllib.models import ExplainerClassifier, build_model


class CheckpointError(ValueError):
    """A file that is not a readable xmllib checkpoint."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`, tensors mapped to `device`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable checkpoint ({error})") from error
    missing = {"config", "class_names", "model"} - set(state) if isinstance(state, dict) else {"all keys"}
    if missing:
        raise CheckpointError(f"{path} is not an xmllib checkpoint: it lacks {sorted(missing)}")
    return state


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
    )


def model_from_state(state: dict[str, Any], config: Config) -> ExplainerClassifier:
    """Build the model a checkpoint describes and load its weights (on the CPU).

    The weights come from the checkpoint, so pretrained weights are not fetched again.
    """
    model = model_from_config(config.replace(pretrained=False), len(state["class_names"]))
    model.load_state_dict(state["model"])
    return model


def load_model(path: str | Path, device: str | torch.device | None = None) -> tuple[ExplainerClassifier, Config, list[str]]:
    """The trained model of a checkpoint, in eval mode on `device` (default: the config's)."""
    state = load_checkpoint(path)
    config = Config.from_dict(state["config"])
    model = model_from_state(state, config)
    target = resolve_device(config.device if device is None else str(device))
    return model.to(target).eval(), config, list(state["class_names"])
