"""Localisation metrics of every method's heatmaps, with undefined images left out and counted.

The metrics are `xmllib.metrics`' (POMPOM, mass inside the mask, target
selectivity, pointing game, relevance rank accuracy). An image counts for a
metric only where it has the annotation the metric needs (a mask; for target
selectivity also distractor boxes) and where the metric is defined on it (for
example, not an empty mask): the rest are excluded, and `localisation_table`
reports how many, never counting them as 0 or 1.
"""

import math
from collections.abc import Mapping

import pandas as pd
import torch
from torch import Tensor

from xmllib import metrics

LOCALISATION_METRICS = ("pompom", "mass_inside_mask", "target_selectivity", "pointing_game", "relevance_rank_accuracy")


def localisation_values(heatmaps: Tensor, annotations: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Per-image values of every localisation metric, NaN where an image does not count.

    `annotations` holds the batch keys of docs/design.md for the same N images:
    mask, has_mask, distractors, has_distractors.
    """
    masks, has_mask = annotations["mask"], annotations["has_mask"].bool()
    has_distractors = has_mask & annotations["has_distractors"].bool()
    nan = torch.full((len(heatmaps),), math.nan)
    values = {
        "pompom": metrics.pompom(heatmaps, masks),
        "mass_inside_mask": metrics.mass_inside_mask(heatmaps, masks),
        "target_selectivity": metrics.target_selectivity(heatmaps, masks, annotations["distractors"]),
        "pointing_game": metrics.pointing_game(heatmaps, masks),
        "relevance_rank_accuracy": metrics.relevance_rank_accuracy(heatmaps, masks),
    }
    needs = {name: has_distractors if name == "target_selectivity" else has_mask for name in values}
    return {name: torch.where(needs[name], value.float(), nan) for name, value in values.items()}


def localisation_table(heatmaps_by_method: Mapping[str, Tensor], annotations: Mapping[str, Tensor]) -> pd.DataFrame:
    """One row per method and metric: method, metric, value (mean over counted images), n, excluded."""
    rows = [
        {"method": method, "metric": metric, "value": summary["mean"], "n": summary["n"],
         "excluded": summary["excluded"]}
        for method, heatmaps in heatmaps_by_method.items()
        for metric, values in localisation_values(heatmaps, annotations).items()
        for summary in [metrics.summarise(values)]
    ]
    return pd.DataFrame(rows, columns=["method", "metric", "value", "n", "excluded"])
