"""Train and eval mode: the one way the package runs a model in eval mode and gives the modes back."""

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


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
