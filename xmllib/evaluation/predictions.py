"""A model's predictions over a split: classification metrics and per-image localisation values.

`predict_split` runs the model over a split (in order) and keeps a few examples, drawn
in proportion to each class, for figures; `summarise_test` turns the result into the
test figures of metrics.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from xmllib import metrics
from xmllib.data import stratified_sample
from xmllib.evaluation.localisation import localisation_values
from xmllib.models import ExplainerClassifier


@dataclass
class SplitResult:
    """Predictions and per-image localisation values over a split, plus a few examples to plot."""

    probs: Tensor
    labels: Tensor
    localisation: dict[str, Tensor]
    examples: dict[str, Tensor]

    @property
    def example_predictions(self) -> Tensor:
        """The predicted class of each example."""
        return self.probs[self.examples["index"]].argmax(1)


def predict_split(model: ExplainerClassifier, loader: DataLoader, n_examples: int = 16) -> SplitResult:
    """Run the model in eval mode over a split (a loader in order); localisation values are NaN where undefined.

    The `n_examples` examples are a sample stratified by label (`stratified_sample`), so
    both classes show even when the split lists one class after the other.
    """
    wanted = set(stratified_sample(loader.dataset.labels, n_examples).tolist()) if n_examples else set()
    probs, labels, examples = [], [], {}
    values: dict[str, list[Tensor]] = {}
    start = 0
    for batch in loader:
        logits, heatmaps = model.explain(batch["image"])
        heatmaps = heatmaps.cpu()
        probs.append(logits.softmax(1).cpu())
        labels.append(batch["label"])
        for name, value in _localisation(heatmaps, batch).items():
            values.setdefault(name, []).append(value)
        keep = [i for i in range(len(heatmaps)) if start + i in wanted]
        for key, value in {**batch, "heatmap": heatmaps}.items():
            examples.setdefault(key, []).append(value[keep])
        start += len(heatmaps)
    return SplitResult(
        probs=torch.cat(probs),
        labels=torch.cat(labels),
        localisation={k: torch.cat(v) for k, v in values.items()},
        examples={k: torch.cat(v) for k, v in examples.items()},
    )


def _localisation(heatmaps: Tensor, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Per-image localisation values of one batch, plus the selectivity of an every-object heatmap."""
    values = localisation_values(heatmaps, batch)
    every_object = metrics.every_object_heatmaps(batch["mask"], batch["distractors"])
    values["every_object_selectivity"] = localisation_values(every_object, batch)["target_selectivity"]
    return values


def summarise_test(result: SplitResult) -> dict[str, Any]:
    """The test figures of metrics.json: classification metrics, then localisation means with counts."""
    out: dict[str, Any] = {
        "test_accuracy": metrics.accuracy(result.probs, result.labels),
        "test_balanced_accuracy": metrics.balanced_accuracy(result.probs, result.labels),
        "test_auc": metrics.roc_auc(result.probs, result.labels),
    }
    for name, values in result.localisation.items():
        summary = metrics.summarise(values)
        out[name] = summary["mean"]
        out[f"{name}_n"] = summary["n"]
        out[f"{name}_excluded"] = summary["excluded"]
    return {k: (float(v) if isinstance(v, float) or torch.is_tensor(v) else v) for k, v in out.items()}


def summary_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """`summarise_test`'s figures as a table: one row per figure, its value and the images it counts.

    Columns: value, images (images with the figure defined), excluded (images left out);
    the classification figures count every image, so their counts are left empty.
    """
    names = [key for key in summary if not key.endswith(("_n", "_excluded"))]
    return pd.DataFrame({
        "value": [float(summary[name]) for name in names],
        "images": pd.array([summary.get(f"{name}_n") for name in names], dtype="Int64"),
        "excluded": pd.array([summary.get(f"{name}_excluded") for name in names], dtype="Int64"),
    }, index=pd.Index(names, name="figure")).round({"value": 3})
