"""Accuracy and localisation against minutes of training, for one configuration.

Trains like `python -m xmllib train` (same flags) and, after every epoch, measures the
val split: accuracy, POMPOM, mass inside the mask, target selectivity, the score of
an every-object heatmap and the diagnosis (`xmllib.evaluation.diagnosis`: dead pixels,
oracle maps). Prints the table and writes recipe.csv and recipe.png to --out.
This is how the tutorial preset was chosen (README, "Choosing the tutorial recipe").

    python benchmarks/recipe.py --dataset data/polygons/index.csv --preset tutorial --out runs/recipe
"""

from __future__ import annotations

import argparse

import matplotlib.pyplot as plt
from torch.utils.data import DataLoader

from xmllib.config import PRESETS, add_config_arguments, config_from_args
from xmllib.data import IndexDataset, read_index
from xmllib.runs import EpochPrinter, LocalisationTracker, format_summary, train_run


SHOWN = ("phase", "epoch", "minutes", "accuracy", "mass_inside_mask", "target_selectivity",
         "every_object_selectivity", "dead_pixel_share", "saturated_pixel_share", "oracle: explainer x 0.8",
         "oracle: explainer x 1.25", "oracle: black", "oracle: explainer inside target boxes, black negatives")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--preset", default="tutorial", choices=sorted(PRESETS))
    parser.add_argument("--config", default=None)
    add_config_arguments(parser)
    args = parser.parse_args()
    config = config_from_args(args)
    val = IndexDataset(read_index(args.dataset), "val", config.image_size)
    tracker = LocalisationTracker(DataLoader(val, batch_size=64))
    summary = train_run(args.dataset, config, args.out, callbacks=[tracker, EpochPrinter()], resume=False)
    table = tracker.table
    table.to_csv(f"{args.out}/recipe.csv", index=False)
    print(table[[column for column in table if column in SHOWN]].round(3).to_string(index=False))
    print(format_summary(summary))
    figure, ax = plt.subplots(figsize=(6, 3.5))
    for column in ("accuracy", "target_selectivity", "mass_inside_mask", "every_object_selectivity"):
        ax.plot(table["minutes"], table[column], marker="o", label=column)
    ax.set(xlabel="minutes of training", ylabel="val score", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    figure.savefig(f"{args.out}/recipe.png", dpi=100, bbox_inches="tight")


if __name__ == "__main__":
    main()
