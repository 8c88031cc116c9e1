"""Mixed precision and memory layout: the dtype the forward pass runs in, and how the weights lie, by device.

`--precision auto` (the default) runs a CUDA GPU's forward passes under autocast in
bfloat16 where the GPU has it, else in float16 (with a gradient scaler), and everything
else in float32: a CPU gains little from autocast, and the MPS backend is kept to float32.
The losses are always computed in float32.

`--memory-format auto` (the default) puts the weights in channels-last memory on a CUDA
GPU, where cuDNN's convolutions are faster on it, and leaves them contiguous elsewhere;
`channels_last` asks for it on any device: the tutorial preset does, since on a 2-core CPU
its model's training steps and evaluation are faster on it (docs/benchmarks.md).
Either layout gives the same model up to rounding, and rounding can decide a training run
whose outcome is on an edge (docs/recipe.md: seed 3 of the demo under the preset before
2026-12-03's fifth session).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype autocast runs the forward pass in on `device`; None for plain float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "float32" or (precision == "auto" and device.type != "cuda"):
        return None
    if device.type != "cuda":
        raise ValueError(f"precision {precision!r} needs a CUDA GPU, but the device is {device.type}; "
                         "use auto or float32")
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, precision)


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """The context the forward pass runs in: autocast to `autocast_dtype`, or nothing for float32."""
    dtype = autocast_dtype(precision, device)
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler, enabled for float16 only (bfloat16 and float32 have float32's range)."""
    return torch.amp.GradScaler(device.type, enabled=autocast_dtype(precision, device) == torch.float16)


def memory_format(name: str, device: torch.device) -> torch.memory_format:
    """The memory layout of the weights on `device` for the configured `name` (see the module's docstring)."""
    if name not in MEMORY_FORMATS:
        raise ValueError(f"unknown memory format {name!r}; choose one of {', '.join(MEMORY_FORMATS)}")
    if name == "channels_last" or (name == "auto" and device.type == "cuda"):
        return torch.channels_last
    return torch.contiguous_format
