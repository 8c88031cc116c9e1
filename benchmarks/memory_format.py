"""Contiguous against channels-last weights: training and evaluation images per second, and their ratio.

Builds a preset's model (`--preset`, default tutorial; `--classifier` to swap the
classifier) twice, once in each memory layout (`xmllib.assembly.place_model`), and times
on random images of the preset's size and batch: a phase-3 training step (forward, the
preset's joint loss, backward, optimiser step) and an evaluation forward pass (eval mode,
no gradients). The two layouts alternate, round after round, so that a machine that
slows down or speeds up meanwhile weighs on both alike; each figure is the median of the
rounds. Prints the images per second of each and the ratio channels-last / contiguous
(above 1: channels-last is faster on this machine). Nothing else should run meanwhile.

    python benchmarks/memory_format.py [--preset tutorial] [--classifier resnet18] [--rounds 10]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from xmllib.assembly import model_from_config, objective_from_config, optimizer_from_config, place_model
from xmllib.config import PRESETS, Config
from xmllib.losses import joint_loss
from xmllib.training import prepare_phase

LAYOUTS = ("contiguous", "channels_last")


def step_timers(config: Config, layout: str) -> dict[str, Callable[[], float]]:
    """For one layout: a function per measure that runs it once and returns its seconds."""
    torch.manual_seed(0)
    config = config.replace(memory_format=layout, device="cpu")
    model = place_model(model_from_config(config, 2), config)
    phase = config.phase(3)
    optimizer = optimizer_from_config(config, model, phase)
    objective = objective_from_config(config, phase)
    size, batch = config.image_size, config.batch_size
    images, labels = torch.rand(batch, 3, size, size), torch.randint(0, 2, (batch,))
    masks = (torch.rand(batch, 1, size, size) > 0.7).float()

    def train() -> float:
        prepare_phase(model, 3)
        began = time.perf_counter()
        logits, heatmap = model(images)
        loss = joint_loss(logits, labels, heatmap, objective, mask=masks, mask_valid=torch.ones(batch, dtype=bool))
        optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        optimizer.step()
        return time.perf_counter() - began

    def evaluate() -> float:
        model.eval()
        began = time.perf_counter()
        with torch.no_grad():
            model(images)
        return time.perf_counter() - began

    return {"train": train, "eval": evaluate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tutorial", choices=sorted(PRESETS))
    parser.add_argument("--classifier", help="the preset's classifier swapped for this one (e.g. resnet18)")
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds of each measure, after two warm-ups")
    args = parser.parse_args()
    config = PRESETS[args.preset]
    if args.classifier:
        config = config.replace(classifier=args.classifier)
    timers = {layout: step_timers(config, layout) for layout in LAYOUTS}
    seconds: dict[tuple[str, str], list[float]] = {(layout, measure): [] for layout in LAYOUTS for measure in
                                                   ("train", "eval")}
    for round_number in range(args.rounds + 2):
        for (layout, measure), times in seconds.items():
            elapsed = timers[layout][measure]()
            if round_number >= 2:
                times.append(elapsed)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; preset {args.preset}, classifier {config.classifier}, "
          f"{config.image_size} px, batch {config.batch_size}, median of {args.rounds} rounds")
    print(f"{'measure':>8} {'contiguous img/s':>17} {'channels-last img/s':>20} {'ratio':>6}")
    for measure in ("train", "eval"):
        rates = [config.batch_size / statistics.median(seconds[layout, measure]) for layout in LAYOUTS]
        print(f"{measure:>8} {rates[0]:>17.1f} {rates[1]:>20.1f} {rates[1] / rates[0]:>6.2f}")


if __name__ == "__main__":
    main()
