"""Seconds a `tutorial` training takes, before and after the speed work, as a ratio on this machine.

"before" is the `tutorial` preset of 2026-12-01: a ResNet-18 classifier, the whole train
split measured after every epoch, every image decoded from its PNG at every read, contiguous
weights on a CPU. "after" is today's preset: the small gated CNN (`classifier="small"`), a
fixed sample of the train split measured (`train_stats_images`), the images decoded once into
memory, channels-last weights. Each trains
one epoch of each phase on the same data (two of phase 1: the first decodes the images,
the second reads them from memory); the demo's time is estimated from these epochs and
each preset's own schedule (its epochs and min_steps). Run it with nothing else on the machine:

    python benchmarks/epoch_time.py --dataset data/polygons/index.csv
"""

from __future__ import annotations

import argparse
import platform

import torch

from xmllib.assembly import model_from_config, place_model
from xmllib.config import PRESETS, Config
from xmllib.data import make_loaders, read_index
from xmllib.training import seed_everything, train

BEFORE = PRESETS["tutorial"].replace(train_stats_images=0, classifier="resnet18", alpha=(1.0, 0.25, 0.6),
                                     lr_expl=(0.0, 3e-3, 3e-3), memory_format="auto")


def epoch_seconds(index, config: Config, in_memory: bool) -> dict[str, float]:
    """Seconds of phase 1's first and second epoch and of one epoch of phases 2 and 3 (training and measuring)."""
    seed_everything(config.seed)
    loaders = make_loaders(index, config.image_size, config.batch_size, config.aug_prob, config.seed,
                           in_memory=in_memory)
    model = place_model(model_from_config(config, len(loaders["train"].dataset.classes)), config)
    short = config.replace(epochs=(2, 1, 1), min_steps=(0, 0, 0))
    history = train(model, short, loaders, class_names=loaders["train"].dataset.classes)
    seconds = history["seconds"].tolist()
    return {"phase 1, first epoch": seconds[0], "phase 1": seconds[1], "phase 2": seconds[2], "phase 3": seconds[3]}


def demo_seconds(config: Config, seconds: dict[str, float], batches: int) -> float:
    """The training's seconds estimated for `config`'s schedule from one epoch's seconds per phase."""
    epochs = [config.phase(phase).epochs_for(batches) for phase in (1, 2, 3)]
    return (seconds["phase 1, first epoch"] + (epochs[0] - 1) * seconds["phase 1"]
            + epochs[1] * seconds["phase 2"] + epochs[2] * seconds["phase 3"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    args = parser.parse_args()
    index = read_index(args.dataset)
    after = PRESETS["tutorial"]
    batches = -(-int((index["split"] == "train").sum()) // after.batch_size)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    measured = {"before": epoch_seconds(index, BEFORE, in_memory=False),
                "after": epoch_seconds(index, after, in_memory=None)}
    print(f"{'seconds per epoch':>22} | {'before':>8} | {'after':>8} | ratio")
    for key in measured["before"]:
        before, now = measured["before"][key], measured["after"][key]
        print(f"{key:>22} | {before:8.1f} | {now:8.1f} | {before / now:.2f}")
    totals = {name: demo_seconds(config, measured[name], batches)
              for name, config in (("before", BEFORE), ("after", after))}
    print(f"{'demo training (est.)':>22} | {totals['before']:8.0f} | {totals['after']:8.0f} | "
          f"{totals['before'] / totals['after']:.2f}")


if __name__ == "__main__":
    main()
