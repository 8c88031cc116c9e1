"""How the evaluation runs a model: in eval mode, without gradients, in chunks, output checked.

The evaluation needs class scores from a model's forward pass on pixel-space images:
either the `(logits, heatmap)` pair of an `ExplainerClassifier` or a plain N x K
logits tensor (a wrapped or post-hoc model).
"""

import torch
from torch import Tensor, nn


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's parameters (the CPU for a model without any)."""
    return next(model.parameters(), torch.empty(0)).device


def logits_of(output: object, n_images: int) -> Tensor:
    """The N x K logits in a model's output, or a ValueError saying what the evaluation needs."""
    logits = output[0] if isinstance(output, (tuple, list)) and output else output
    if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[0] != n_images:
        found = (
            f"a tensor of shape {tuple(logits.shape)}" if isinstance(logits, Tensor) else f"a {type(logits).__name__}"
        )
        raise ValueError(
            f"the evaluation needs a model whose forward returns (logits, heatmap) or logits, "
            f"logits of shape {n_images} x K for {n_images} images; its output held {found}"
        )
    return logits


@torch.no_grad()
def class_probabilities(model: nn.Module, images: Tensor, batch_size: int) -> Tensor:
    """Softmax probabilities (N x K) of `images`, on the model's device, forwarded `batch_size` at a time."""
    chunks = [
        logits_of(model(chunk), len(chunk)).softmax(dim=1) for chunk in images.split(batch_size)
    ]
    return torch.cat(chunks)
