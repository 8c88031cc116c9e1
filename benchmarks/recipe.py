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
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from torch.utils.data import DataLoader

from xmllib.assembly import split_loader
from xmllib.config import PRESETS, add_config_arguments, config_from_args
from xmllib.data import class_names, read_index
from xmllib.evaluation.diagnosis import diagnose
from xmllib.evaluation.predictions import predict_split, summarise_test
from xmllib.models import ExplainerClassifier
from xmllib.runs import EpochPrinter, format_summary, train_run
from xmllib.training import Callback

SHOWN = ("phase", "epoch", "minutes", "accuracy", "mass_inside_mask", "target_selectivity",
         "every_object_selectivity", "dead_pixel_share", "saturated_pixel_share", "oracle: explainer x 0.8",
         "oracle: explainer x 1.25", "oracle: black", "oracle: explainer inside target boxes, black negatives")


class LocalisationTracker(Callback):
    """Measures accuracy, localisation and the diagnosis on one split after every epoch.

    `table` holds one row per epoch: phase, epoch, minutes (training time so far), the
    means of summarise_test's figures on that split, the head-gradient shares of
    `diagnose` and its oracle accuracies (columns "oracle: <heatmap>").
    """

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader
        self.rows: list[dict[str, Any]] = []

    def on_epoch_end(self, history: pd.DataFrame, model: ExplainerClassifier) -> None:
        last = history.iloc[-1]
        summary = summarise_test(predict_split(model, self.loader, n_examples=0))
        figures = {k.removeprefix("test_"): v for k, v in summary.items() if not k.endswith(("_n", "_excluded"))}
        oracles, head = diagnose(model, self.loader)
        figures.update(head)
        figures.update({f"oracle: {row.heatmap}": row.accuracy for row in oracles.itertuples()})
        self.rows.append({"phase": int(last["phase"]), "epoch": int(last["epoch"]),
                          "minutes": history["seconds"].sum() / 60, **figures})

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--preset", default="tutorial", choices=sorted(PRESETS))
    parser.add_argument("--config", default=None)
    add_config_arguments(parser)
    args = parser.parse_args()
    config = config_from_args(args)
    index = read_index(args.dataset)
    tracker = LocalisationTracker(split_loader(index, "val", config, class_names(index)))
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
