"""Train and eval mode: the one way the package runs a model in eval mode and gives the modes back, and the
BatchNorm statistics recomputed for a model's current weights."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put `model` in eval mode for the block and give every submodule back the mode it was in.

    Restoring each submodule (not just the top one) keeps a frozen part frozen when
    this is called between epochs of a phase that trains only the other part.
    Gradients are the caller's choice (`torch.no_grad()`), as attributions need them.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, mode in modes:
            module.training = mode


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, part: nn.Module, batches: Iterable[Tensor]) -> None:
    """Recompute the running statistics of `part`'s BatchNorm layers for `model`'s current weights.

    Each layer's running mean and variance become the plain average over `batches` (image
    batches that `model` takes) of what it sees in train mode, instead of the running
    average that lags behind the weights during an epoch (as `torch.optim.swa_utils.update_bn`
    does for averaged weights). Nothing else changes; every module gets its mode back.
    """
    layers = [module for module in part.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    with eval_mode(model):
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None
            layer.train()
        try:
            for images in batches:
                model(images)
        finally:
            for layer, momentum in zip(layers, momenta):
                layer.momentum = momentum
