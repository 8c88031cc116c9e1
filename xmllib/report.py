"""The evaluation report of a trained model: AOPC and localisation of every method, tables and figures.

`run_evaluation` is what `python -m xmllib evaluate CHECKPOINT --dataset CSV --out DIR`
runs, with an `EvaluationSettings`. It
checks the index as training does (`xmllib.data.check_index`), takes `n_images` images
of a split drawn at random (seeded) in proportion to each class (`stratified_sample`),
computes every method's heatmaps
(`posthoc.method_heatmaps`), their AOPC curves for every perturbation and patch
size (`aopc.aopc_table`; the random patch order is always added as the reference)
and their localisation metrics (`localisation.localisation_table`), and writes to
`out_dir`:

- aopc.csv: method, perturbation, patch_size, step, aopc
- localisation.csv: method, metric, value, n (images counted), excluded (images left out)
- aopc_grid.png: the paper's figure (rows patch sizes, columns perturbations)
- methods.png: a few images, their mask outlines and every method's heatmap
- notes.txt: the settings, the CSV lines of the images evaluated, rows skipped by the
  data checks, and every substitution made (LRP -> DeepLift)

Cost: images x (steps + 1) forward passes per method, perturbation and patch size,
plus the post-hoc attributions (Integrated Gradients: 50 forward and backward
passes per image).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Subset

from xmllib import plots
from xmllib.checkpoints import load_model
from xmllib.config import ON_BAD_DATA
from xmllib.data import IndexDataset, check_index_file, stratified_sample
from xmllib.evaluation.aopc import aopc_table, check_steps
from xmllib.evaluation.localisation import localisation_table
from xmllib.evaluation.patches import check_patch_size, default_patch_sizes
from xmllib.evaluation.perturbations import PERTURBATIONS, check_perturbation
from xmllib.evaluation.posthoc import (
    DEFAULT_METHODS,
    RANDOM,
    check_methods,
    method_heatmaps,
    resolve_method,
)

DEFAULT_N_IMAGES = 100
DEFAULT_BATCH_SIZE = 32
FIGURE_IMAGES = 4


@dataclass
class EvaluationImages:
    """The images an evaluation looks at: one batch dict (docs/design.md keys) and where they come from."""

    batch: dict[str, Tensor]
    lines: list[int]
    counts: dict[str, int]
    split_size: int


def evaluation_batch(index: pd.DataFrame, split: str, image_size: int, class_names: Sequence[str],
                     n_images: int, batch_size: int, seed: int = 0) -> EvaluationImages:
    """`n_images` images of a split of an index (`read_index`'s frame), stratified by label and drawn with `seed`."""
    dataset = IndexDataset(index, split, image_size, classes=list(class_names))
    chosen = stratified_sample(dataset.labels, n_images, seed).tolist()
    batches = list(DataLoader(Subset(dataset, chosen), batch_size=batch_size))
    rows = index.index[index["split"] == split]
    labels = dataset.labels[chosen]
    return EvaluationImages(
        batch={key: torch.cat([batch[key] for batch in batches]) for key in batches[0]},
        lines=[int(rows[i]) + 2 for i in chosen],
        counts={name: int((labels == k).sum()) for k, name in enumerate(class_names)},
        split_size=len(dataset),
    )


def resolve_methods(methods: Sequence[str], model: torch.nn.Module) -> tuple[list[str], list[str]]:
    """The methods that will run for `methods` (random order added, repeats dropped) and notes on substitutions."""
    check_methods(methods)
    resolved = [resolve_method(method, model) for method in (*methods, RANDOM)]
    used = list(dict.fromkeys(name for name, _ in resolved))
    return used, [note for _, note in resolved if note is not None]


def _write_outputs(out_dir: Path, aopc: pd.DataFrame, localisation: pd.DataFrame, batch: dict[str, Tensor],
                   heatmaps: dict[str, Tensor], settings: dict[str, Any], notes: list[str],
                   figure_images: int) -> dict[str, Path]:
    """Write the tables, figures and notes of an evaluation; return their paths by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {name: out_dir / name for name in
             ("aopc.csv", "localisation.csv", "aopc_grid.png", "methods.png", "notes.txt")}
    aopc.to_csv(files["aopc.csv"], index=False)
    localisation.to_csv(files["localisation.csv"], index=False)
    plots.aopc_grid(aopc).savefig(files["aopc_grid.png"], dpi=120)
    shown = slice(0, figure_images)
    masks = batch["mask"][shown] if batch["has_mask"][shown].any() else None
    strip = {name: maps[shown] for name, maps in heatmaps.items() if name != RANDOM}
    plots.heatmap_strip(batch["image"][shown], strip, masks, value_range=(0.0, 1.0)).savefig(
        files["methods.png"], dpi=120)
    lines = [f"{key}: {value}" for key, value in settings.items()] + [f"note: {note}" for note in notes]
    files["notes.txt"].write_text("\n".join(lines) + "\n")
    return files


@dataclass(frozen=True)
class EvaluationSettings:
    """What an evaluation computes, checked on creation (before anything is loaded or written).

    n_images: how many images of `split`, drawn at random (with `seed`) in proportion to
    each class; steps: L (default min(100, patches) per patch size, larger values are
    clipped with a warning); patch_sizes: default the paper's scaled to the image size
    (`default_patch_sizes`); perturbations: any of PERTURBATIONS; methods: any of METHODS
    (LRP falls back to DeepLift where captum cannot run it, see notes); batch_size: images
    per forward pass; device: default the checkpoint config's; seed: seeds the image
    sample, the uniform noise and the random order; figure_images: images in methods.png;
    on_bad_data: the data checks' choice, as in training (error | skip).
    """

    n_images: int = DEFAULT_N_IMAGES
    steps: int | None = None
    patch_sizes: tuple[int, ...] | None = None
    perturbations: tuple[str, ...] = PERTURBATIONS
    methods: tuple[str, ...] = DEFAULT_METHODS
    batch_size: int = DEFAULT_BATCH_SIZE
    device: str | None = None
    split: str = "test"
    seed: int = 0
    figure_images: int = FIGURE_IMAGES
    on_bad_data: str = "error"

    def __post_init__(self) -> None:
        for name in ("patch_sizes", "perturbations", "methods"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        check_methods(self.methods)
        check_steps(self.steps)
        for name in ("n_images", "figure_images", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for perturbation in self.perturbations:
            check_perturbation(perturbation)
        if self.on_bad_data not in ON_BAD_DATA:
            raise ValueError(f"on_bad_data must be one of {', '.join(ON_BAD_DATA)}, got {self.on_bad_data!r}")


def run_evaluation(checkpoint: str | Path, dataset_csv: str | Path, out_dir: str | Path,
                   settings: EvaluationSettings = EvaluationSettings(),
                   log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint's in-model heatmaps against post-hoc methods; write the outputs to `out_dir`.

    `log` is called with progress messages. Returns dict(aopc=DataFrame,
    localisation=DataFrame, notes=list of str, methods=list of the methods run,
    files=dict of written paths).
    """
    say = log or (lambda message: None)
    model, config, class_names = load_model(checkpoint, settings.device)
    report = check_index_file(dataset_csv, settings.on_bad_data)
    sample = evaluation_batch(report.index, settings.split, config.image_size, class_names, settings.n_images,
                              settings.batch_size, settings.seed)
    batch, images = sample.batch, sample.batch["image"]
    patch_sizes = settings.patch_sizes or default_patch_sizes(*images.shape[-2:])
    for patch_size in patch_sizes:
        check_patch_size(patch_size, *images.shape[-2:])
    used, notes = resolve_methods(settings.methods, model)
    for note in notes:
        say(f"note: {note}")
    heatmaps = {}
    for method in used:
        say(f"heatmaps: {method}")
        heatmaps[method] = method_heatmaps(model, images, method, batch_size=settings.batch_size,
                                          seed=settings.seed)
    say(f"AOPC: {len(used)} methods x {len(settings.perturbations)} perturbations x patch sizes {list(patch_sizes)}")
    aopc = aopc_table(model, images, heatmaps, patch_sizes, settings.perturbations, settings.steps,
                      batch_size=settings.batch_size, seed=settings.seed)
    localisation = localisation_table(heatmaps, batch)
    drawn = ", ".join(f"{count} {name}" for name, count in sample.counts.items())
    described = {"checkpoint": checkpoint, "dataset": dataset_csv, "split": settings.split,
                "images": f"{len(images)} of {sample.split_size}, stratified by label, seed {settings.seed} ({drawn})",
                "rows skipped by the data checks": len(report.skipped),
                "image_size": config.image_size,
                "steps": settings.steps if settings.steps is not None else "min(100, patches)",
                "patch_sizes": list(patch_sizes), "perturbations": list(settings.perturbations),
                "methods requested": list(settings.methods), "methods run": used, "seed": settings.seed,
                "CSV lines of the images": ", ".join(map(str, sample.lines))}
    files = _write_outputs(Path(out_dir), aopc, localisation, batch, heatmaps, described, notes,
                           settings.figure_images)
    return {"aopc": aopc, "localisation": localisation, "notes": notes, "methods": used, "files": files}
