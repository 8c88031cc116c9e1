"""Checkpoints: written atomically, read back into a ready model.

A checkpoint is a dict (docs/design.md): config, class_names, phase, epoch, model,
optimizer, scheduler, early_stopping, history. It holds tensors and plain Python
values only, and is read with `torch.load(weights_only=True)`: a checkpoint passed
around by others cannot run code when it is loaded. It is written to a temporary
file in the same folder, flushed to disk and moved into place with `os.replace`,
so an interrupted write never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xmllib.assembly import model_from_config, place_model
from xmllib.config import Config
from xmllib.models import ExplainerClassifier


class CheckpointError(ValueError):
    """A file that is not a readable xmllib checkpoint."""


class CheckpointMismatch(ValueError):
    """A checkpoint written by another configuration (or with other classes or data) than the one asked for."""


def checkpoint_dict(config: Config, class_names: Sequence[str], model: nn.Module, **extra: Any) -> dict[str, Any]:
    """The one checkpoint schema: the configuration, the class names, the weights, and what the writer adds.

    Training adds phase, epoch, phase_done, history, optimizer, scheduler and
    early_stopping; the notebooks' phase cache adds its dataset spec and figures.
    """
    return {"config": config.to_dict(), "class_names": list(class_names), "model": model.state_dict(), **extra}


def load_matching(path: str | Path, config: Config, device: torch.device | str = "cpu",
                  **expected: Any) -> dict[str, Any] | None:
    """The checkpoint at `path` if `config` and the `expected` values wrote it; None when there is none.

    CheckpointMismatch, naming what differs, when the file was written otherwise: the
    "load it if it matches, else train" of resumed runs and of the notebooks' caches.
    """
    if not Path(path).is_file():
        return None
    state = load_checkpoint(path, device)
    wanted = {"config": config.to_dict(), **expected}
    differing = [_difference(key, state.get(key), value) for key, value in wanted.items() if state.get(key) != value]
    if differing:
        raise CheckpointMismatch(f"{path} was written with another {'; another '.join(differing)}")
    return state


def _difference(key: str, found: Any, wanted: Any) -> str:
    """What differs under `key`: the configuration keys by name, anything else as a whole."""
    if key == "config" and isinstance(found, dict):
        names = sorted(name for name in set(found) | set(wanted) if found.get(name) != wanted.get(name))
        return "configuration (" + ", ".join(f"{name}: {found.get(name)!r}, not {wanted.get(name)!r}"
                                            for name in names[:4]) + (", ..." if len(names) > 4 else "") + ")"
    return key.replace("_", " ")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` (tensors and plain values, see `plain`) to `path` atomically, with the umask's permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(plain(state), f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plain(value: Any) -> Any:
    """`value` with NumPy scalars as Python numbers and paths as strings, so `weights_only` loading accepts it."""
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, torch.Tensor):
        return value.item()
    return value


def _umask() -> int:
    """The process's file-creation mask (read by setting it and setting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`, tensors mapped to `device`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        raise CheckpointError(
            f"{path} holds Python objects ({found.group(1) if found else 'not plain values'}), not only tensors "
            "and plain values; xmllib does not load such files because unpickling them can run code"
        ) from None
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable checkpoint ({error})") from error
    missing = {"config", "class_names", "model"} - set(state) if isinstance(state, dict) else {"all keys"}
    if missing:
        raise CheckpointError(f"{path} is not an xmllib checkpoint: it lacks {sorted(missing)}")
    return state


def model_from_state(state: dict[str, Any], config: Config) -> ExplainerClassifier:
    """Build the model a checkpoint describes and load its weights (on the CPU).

    The weights come from the checkpoint, so pretrained weights are not fetched again.
    """
    model = model_from_config(config.replace(pretrained=False), len(state["class_names"]))
    model.load_state_dict(state["model"])
    return model


def load_model(path: str | Path,
               device: str | torch.device | None = None) -> tuple[ExplainerClassifier, Config, list[str]]:
    """The trained model of a checkpoint, in eval mode on `device` (default: the config's)."""
    state = load_checkpoint(path)
    config = Config.from_dict(state["config"])
    model = model_from_state(state, config)
    return place_model(model, config, device).eval(), config, list(state["class_names"])
