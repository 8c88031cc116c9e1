"""Training throughput of the joint model: batched losses and broadcast gates vs the original's way.

Prints images/s (median of several timed steps after warm-up) of one phase-3 training
step (forward, joint hybrid loss, backward, SGD step) of the explainer with a resnet18
gated per block, batch 8, at 64 and 224 px, in two formulations:

- xmllib: the losses over the whole batch in one expression, the gate broadcast;
- original: the losses in a Python loop over the batch, the gate multiplied by
  `planes` concatenated copies of the pooled heatmap (how the original code did both).

With `--precision auto` (or bfloat16, float16) it also times xmllib's step under that
precision (`xmllib.precision`: autocast, a gradient scaler for float16, channels-last weights
on CUDA) and prints its ratio to float32; on a CPU, auto is float32.

    python benchmarks/train_step.py [--sizes 64 224] [--steps 10] [--width 32] [--precision auto]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from unittest import mock

import torch
import torch.nn.functional as F
from torch import Tensor

from xmllib import losses
from xmllib.config import resolve_device
from xmllib.models import build_model
from xmllib.models import gates as gates_module
from xmllib.precision import autocast, grad_scaler


def concatenated_gate(features: Tensor, heatmap: Tensor) -> Tensor:
    """The original's gate: `planes` copies of the pooled heatmap concatenated, then multiplied."""
    pooled = F.adaptive_avg_pool2d(heatmap, features.shape[-2:])
    return features * torch.cat([pooled] * features.shape[1], dim=1)


def per_sample_joint_loss(logits: Tensor, labels: Tensor, heatmap: Tensor, mask: Tensor,
                          alpha: float, beta: float, gamma: float) -> Tensor:
    """The original's loss: each explanation term computed sample by sample in Python."""
    terms = []
    for z_hat, z in zip(heatmap[:, 0], mask[:, 0]):
        sparsity = z_hat.abs().mean()
        contiguity = (z_hat[1:] - z_hat[:-1]).abs().mean() + (z_hat[:, 1:] - z_hat[:, :-1]).abs().mean()
        weak = ((1 - z) * z_hat).sum() / ((1 - z).sum() + 1e-6)
        terms.append(beta * sparsity + (1 - beta) * contiguity + gamma * weak.abs())
    return alpha * F.cross_entropy(logits, labels) + (1 - alpha) * torch.stack(terms).mean()


def batched_joint_loss(logits: Tensor, labels: Tensor, heatmap: Tensor, mask: Tensor,
                       alpha: float, beta: float, gamma: float) -> Tensor:
    return losses.joint_loss(logits, labels, heatmap, losses.Objective(alpha, beta, gamma), mask=mask).total


def images_per_second(size: int, width: int, steps: int, loss_fn: Callable, device: torch.device,
                      batch: int = 8, precision: str = "float32") -> float:
    """Median images/s of `steps` timed training steps after two warm-up steps, the forward pass in `precision`."""
    torch.manual_seed(0)
    model = build_model("resnet18", 2, explainer_width=width).to(device).train()
    if precision != "float32" and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    scaler = grad_scaler(precision, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    images = torch.rand(batch, 3, size, size, device=device)
    labels = torch.randint(0, 2, (batch,), device=device)
    mask = (torch.rand(batch, 1, size, size, device=device) > 0.7).float()
    rates = []
    for step in range(steps + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        with autocast(precision, device):
            logits, heatmap = model(images)
        loss = loss_fn(logits.float(), labels, heatmap.float(), mask, 0.9, 0.9, 1.0)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= 2:
            rates.append(batch / (time.perf_counter() - began))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--width", type=int, default=32, help="explainer base width (paper: 32)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="float32", help="also time xmllib's step in this precision")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch 8, explainer width {args.width}")
    print(f"{'size':>5} {'xmllib img/s':>13} {'original img/s':>15} {'ratio':>6}")
    for size in args.sizes:
        ours = images_per_second(size, args.width, args.steps, batched_joint_loss, device)
        with mock.patch.object(gates_module, "gate", concatenated_gate):
            original = images_per_second(size, args.width, args.steps, per_sample_joint_loss, device)
        print(f"{size:>5} {ours:>13.1f} {original:>15.1f} {ours / original:>6.2f}")
    if args.precision != "float32":
        print(f"{'size':>5} {'float32 img/s':>14} {args.precision + ' img/s':>15} {'ratio':>6}")
        for size in args.sizes:
            plain = images_per_second(size, args.width, args.steps, batched_joint_loss, device)
            mixed = images_per_second(size, args.width, args.steps, batched_joint_loss, device,
                                      precision=args.precision)
            print(f"{size:>5} {plain:>14.1f} {mixed:>15.1f} {mixed / plain:>6.2f}")


if __name__ == "__main__":
    main()
