"""A training run end to end: data, model, three phases, test, and the run folder.

`train_run` is what `python -m xmllib train` and `make demo` call. It checks
everything that can be checked before anything is written (every file of the index
and the bad rows of `xmllib.data.checks`, the image size the model takes, masks for
the hybrid loss, the class weights), prints the data summary and the class weights,
trains, tests, and writes to its folder: config.yaml, data_summary.csv,
skipped_rows.csv (only when rows were skipped), class_weights.json,
history_phase{1,2,3}.csv, checkpoint.pt (resumable), model.pt (final), metrics.json,
explanations.png, curves.png and roc_pr.png.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from xmllib import plots
from xmllib.assembly import loaders_from_config, model_from_config, place_model, split_loader
from xmllib.checkpoints import checkpoint_dict, load_model, save_checkpoint
from xmllib.config import Config, resolve_device
from xmllib.data import (
    DataReport,
    check_dataset,
    check_index_file,
    class_weight_table,
    format_report,
    load_image,
    resolve_class_weights,
)
from xmllib.evaluation.diagnosis import diagnose
from xmllib.evaluation.predictions import SplitResult, predict_split, summarise_test
from xmllib.evaluation.verdicts import majority_share, phase_verdict
from xmllib.models import ExplainerClassifier
from xmllib.training import Callback, seed_everything, train

MODEL_NAME = "model.pt"


def write_data_files(out_dir: Path, report: DataReport, class_weights: Mapping[str, float]) -> None:
    """data_summary.csv, skipped_rows.csv (when rows were skipped) and class_weights.json of a run folder."""
    report.summary.to_csv(out_dir / "data_summary.csv")
    if len(report.skipped):
        report.skipped.to_csv(out_dir / "skipped_rows.csv", index=False)
    (out_dir / "class_weights.json").write_text(json.dumps(dict(class_weights), indent=2))


class EpochPrinter(Callback):
    """Prints one line per epoch (losses, accuracies, seconds), so a terminal run shows progress."""

    def on_epoch_end(self, history: pd.DataFrame, model: ExplainerClassifier) -> None:
        print(format_epoch(history.iloc[-1]), flush=True)


def format_epoch(row: pd.Series) -> str:
    """One history row as `phase P epoch E: train loss .. acc .. | val loss .. acc .. | S s`."""
    splits = " | ".join(f"{split} loss {row[f'{split}_loss']:.4f} acc {row[f'{split}_accuracy']:.3f}"
                        for split in ("train", "val"))
    return f"phase {int(row['phase'])} epoch {int(row['epoch'])}: {splits} | {row['seconds']:.0f} s"


class PhaseVerdicts(Callback):
    """Prints `phase_verdict`'s warning after a phase that ended at chance or diverged, and keeps it."""

    def __init__(self, chance: float) -> None:
        self.chance = chance
        self.warnings: list[str] = []
        self.judged: set[int] = set()

    def on_phase_end(self, history: pd.DataFrame, model: ExplainerClassifier) -> None:
        phase = int(history.iloc[-1]["phase"])
        if phase in self.judged:  # a phase of 0 epochs ends with the history of the phase before it
            return
        self.judged.add(phase)
        verdict = phase_verdict(history, phase, self.chance)
        if verdict is not None:
            print(verdict, flush=True)
            self.warnings.append(verdict)


def write_figures(out_dir: Path, result: SplitResult, class_names: list[str],
                  history: pd.DataFrame | None = None) -> None:
    """explanations.png and roc_pr.png of a tested model, and curves.png when a history is given."""
    ex, predictions = result.examples, result.example_predictions
    figures = {
        "explanations.png": plots.explanation_grid(
            ex["image"], ex["heatmap"], ex["mask"], ex["label"], predictions, class_names),
        "roc_pr.png": plots.roc_pr_curves(result.probs, result.labels, class_names),
    }
    if history is not None:
        figures["curves.png"] = plots.training_curves(history)
    for name, figure in figures.items():
        figure.savefig(out_dir / name, dpi=100, bbox_inches="tight")


def train_run(
    index_csv: str | Path,
    config: Config,
    out_dir: str | Path,
    *,
    callbacks: Iterable[Callback] = (),
    resume: bool = True,
) -> dict[str, Any]:
    """Train the three phases on an index, test, and write the run folder; returns metrics.json's content."""
    began = time.perf_counter()
    report = check_dataset(index_csv, config)
    print(format_report(report))
    seed_everything(config.seed)
    loaders = loaders_from_config(report.index, config)
    class_names = list(loaders["train"].dataset.classes)
    class_weights = resolve_class_weights(config.class_weights, loaders["train"].dataset.labels, class_names)
    weights_used = class_weight_table(class_weights, class_names)
    print("class weights: " + ", ".join(f"{name} {weight:.4g}" for name, weight in weights_used.items()))
    model = model_from_config(config, len(class_names))
    model.check_input_size(config.image_size, config.image_size)
    model.check_batch_size(min(config.batch_size, len(loaders["train"].dataset)), config.image_size,
                           config.image_size)
    place_model(model, config)
    device = resolve_device(config.device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config.save(out_dir / "config.yaml")
    write_data_files(out_dir, report, weights_used)
    verdicts = PhaseVerdicts(majority_share(loaders["val"].dataset.labels))
    history = train(model, config, loaders, class_names=class_names, out_dir=out_dir,
                    callbacks=[*callbacks, verdicts], resume=resume,
                    class_weights=None if class_weights is None else class_weights.to(device))
    for phase, rows in history.groupby("phase"):
        rows.to_csv(out_dir / f"history_phase{phase}.csv", index=False)
    save_checkpoint(out_dir / MODEL_NAME, checkpoint_dict(config, class_names, model))
    result = predict_split(model, loaders["test"])
    summary = summarise_test(result)
    write_figures(out_dir, result, class_names, history)
    summary["seconds"] = time.perf_counter() - began
    summary["warnings"] = verdicts.warnings
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
    return summary


def format_summary(summary: Mapping[str, Any]) -> str:
    """A few lines for the terminal."""
    keys = ("test_accuracy", "test_balanced_accuracy", "test_auc", "pompom", "mass_inside_mask",
            "target_selectivity", "every_object_selectivity", "seconds")
    lines = [f"{key:>26}: {summary[key]:.4f}" for key in keys if key in summary]
    return "\n".join(lines + list(summary.get("warnings", [])))


def score_checkpoint(checkpoint: str | Path, index_csv: str | Path, split: str = "test",
                     out_dir: str | Path | None = None, on_bad_data: str = "error") -> dict[str, Any]:
    """Test a saved model on one split of an index; with `out_dir`, write metrics.json and figures.

    The index is checked as training checks it; `skipped_rows` counts the rows left out
    (on_bad_data "skip").
    """
    model, config, class_names = load_model(checkpoint)
    report = check_index_file(index_csv, on_bad_data)
    result = predict_split(model, split_loader(report.index, split, config, class_names))
    summary = {**summarise_test(result), "skipped_rows": len(report.skipped)}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
        write_figures(out_dir, result, class_names)
    return summary


def diagnose_checkpoint(checkpoint: str | Path, index_csv: str | Path, split: str,
                        out_dir: str | Path, on_bad_data: str = "error") -> tuple[pd.DataFrame, dict[str, float]]:
    """`diagnose` a saved model on one split of a checked index; writes oracle_maps.csv and diagnosis.json."""
    model, config, class_names = load_model(checkpoint)
    report = check_index_file(index_csv, on_bad_data)
    oracles, head_gradient = diagnose(model, split_loader(report.index, split, config, class_names))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    oracles.to_csv(out_dir / "oracle_maps.csv", index=False)
    (out_dir / "diagnosis.json").write_text(json.dumps(head_gradient, indent=2))
    return oracles, head_gradient


def explain_images(checkpoint: str | Path, images: Iterable[str | Path], out_dir: str | Path) -> list[Path]:
    """Write one PNG per image: the image, its heatmap and the overlay, titled with the prediction.

    Every image is read before the output folder is made, so an unreadable one leaves nothing behind.
    """
    model, config, class_names = load_model(checkpoint)
    paths = [Path(path) for path in images]
    batch = torch.stack([load_image(path, config.image_size) for path in paths])
    outputs = [model.explain(chunk) for chunk in batch.split(config.batch_size)]
    logits, heatmaps = (torch.cat([output[i] for output in outputs]) for i in (0, 1))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path, image, heatmap, probs in zip(paths, batch, heatmaps.cpu(), logits.softmax(1).cpu()):
        figure = plots.explanation_grid(image[None], heatmap[None], predictions=probs.argmax().view(1),
                                        class_names=class_names)
        figure.suptitle(f"{path.name}: {class_names[int(probs.argmax())]} ({float(probs.max()):.2f})")
        target = out_dir / f"{path.stem}_explained.png"
        figure.savefig(target, dpi=100, bbox_inches="tight")
        written.append(target)
    return written
