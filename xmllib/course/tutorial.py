"""The notebooks' shared setup: one switch for the scale, the dataset, and phases trained once and cached.

`notebook_config(paper_scale)` is the configuration and polygons dataset every
notebook uses: the `tutorial` preset (64 px, minutes on a CPU) or, for people with a
GPU, the `paper` preset at 224 px (method.md section 3). Everything lives in one
cache folder, `cache/<scale>/` next to the notebooks: the dataset and one
checkpoint per phase.

`cached_phase(phase, setup)` returns the model after `phase`: loaded from its
checkpoint, or, when that is missing or was made with another configuration,
trained there first together with the phases before it (it says so, with a
progress bar). So every notebook can be opened and run on its own.

Setting the environment variable XMLLIB_NOTEBOOK_SMOKE=1 shrinks the data and the
epochs to a smoke test, in a cache folder of its own: what
`make test-notebooks-standalone` uses to run each notebook from an empty cache.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import pandas as pd
import torch
from IPython.display import Image, display
from matplotlib.figure import Figure
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, default_collate

from xmllib.assembly import loaders_from_config, model_from_config, objective_from_config, place_model
from xmllib.checkpoints import CheckpointMismatch, checkpoint_dict, load_matching, model_from_state, save_checkpoint
from xmllib.config import PER_PHASE, TRAINS, Config, ConfigError, preset
from xmllib.course.live import HeatmapFrames, LiveTraining, ProgressBar, rule_of_thumb_report
from xmllib.data import PolygonSpec, generate_polygons
from xmllib.evaluation.verdicts import kept_epoch, majority_share, phase_verdict
from xmllib.models import ExplainerClassifier
from xmllib.plots import figure_png, frame_grid, heatmap_animation, phase_curves
from xmllib.training import measure_split, measured_splits, seed_everything, train_phase

CACHE_DIR = Path("cache")
"""Relative to the working directory: notebooks/cache/ when a notebook runs from notebooks/."""
SMOKE_VARIABLE = "XMLLIB_NOTEBOOK_SMOKE"
FIXED_BATCH_SIZE = 8

TUTORIAL_SPEC = PolygonSpec(n_train=1500, n_val=300, n_test=500)
"""The polygons of the tutorial, the same as `make demo`'s: 64 px, 1500/300/500 images, on which the
`tutorial` preset reaches val accuracy 0.95 in about 5 minutes of a 2-core CPU (README)."""
PAPER_SPEC = PolygonSpec(image_size=224, radius=(21.0, 49.0), line_width=6)
"""The same polygons at the paper's 224 px (radius and line width scaled by 3.5 and 3)."""
SMOKE_SIZES = {"n_train": 48, "n_val": 16, "n_test": 16}
SMOKE_EPOCHS = (1, 1, 1)


class NotebookConfig(NamedTuple):
    """What the notebooks share: the run's configuration, the polygons spec and the cache folder."""

    config: Config
    spec: PolygonSpec
    folder: Path


def notebook_config(paper_scale: bool = False, cache_dir: str | Path = CACHE_DIR) -> NotebookConfig:
    """The `tutorial` preset and polygons (or, with `paper_scale`, the `paper` preset at 224 px).

    The cache folder is `cache_dir/<scale>`: tutorial, paper, tutorial_smoke or paper_smoke (see
    the module docstring), so switching scale keeps the other scale's checkpoints.
    """
    scale = "paper" if paper_scale else "tutorial"
    config, spec = preset(scale), PAPER_SPEC if paper_scale else TUTORIAL_SPEC
    if os.environ.get(SMOKE_VARIABLE, "") not in ("", "0"):
        return NotebookConfig(config.replace(epochs=SMOKE_EPOCHS, min_steps=(0, 0, 0)),
                              dataclasses.replace(spec, **SMOKE_SIZES),
                              Path(cache_dir) / f"{scale}_smoke")
    return NotebookConfig(config, spec, Path(cache_dir) / scale)


def notebook_dataset(setup: NotebookConfig) -> Path:
    """The polygons dataset's index.csv, generated in the cache folder the first time."""
    if setup.spec.image_size != setup.config.image_size:
        raise ConfigError(
            f"the polygons are {setup.spec.image_size} px but the configuration trains on "
            f"{setup.config.image_size} px; make them equal"
        )
    return generate_polygons(setup.folder / "polygons", setup.spec)


def notebook_loaders(setup: NotebookConfig) -> dict[str, DataLoader]:
    """Train, val and test loaders of the notebooks' dataset, as the configuration says."""
    return loaders_from_config(notebook_dataset(setup), setup.config)


def fixed_batch(dataset: Dataset, n: int = FIXED_BATCH_SIZE) -> dict[str, Tensor]:
    """The batch whose heatmaps the notebooks follow: the first n / K images of each of the K classes.

    `dataset` is an `IndexDataset` (its `labels` say each image's class).
    """
    labels: Tensor = dataset.labels
    per_class = n // len(dataset.classes)
    chosen = torch.cat([torch.nonzero(labels == k).flatten()[:per_class] for k in range(len(dataset.classes))])
    if len(chosen) == 0:
        raise ValueError(f"cannot pick {per_class} images per class from a split of {len(dataset)} images")
    return default_collate([dataset[int(i)] for i in chosen])


def phase_start(model: ExplainerClassifier, config: Config, phase: int,
                loaders: Mapping[str, DataLoader]) -> dict[str, float]:
    """Losses and accuracy on train and val before `phase` trains: epoch 0 of its curves, measured on the
    images its epochs are measured on (`measured_splits`)."""
    objective = objective_from_config(config, config.phase(phase))
    return {f"{split}_{key}": value for split, loader in measured_splits(loaders, config).items()
            for key, value in measure_split(model, loader, objective, config.precision).items()}


@dataclass
class PhaseResult:
    """The model after a phase, with what the notebooks show about that phase.

    history: every epoch of every phase so far (docs/design.md columns); start: the
    phase's epoch 0 (`phase_start`); frames: the fixed batch's heatmaps per epoch;
    checkpoint: where it is cached (None for a retrained, uncached result).
    """

    phase: int
    model: ExplainerClassifier
    history: pd.DataFrame
    class_names: list[str]
    start: dict[str, float]
    frames: HeatmapFrames
    batch: dict[str, Tensor]
    checkpoint: Path | None

    def curves(self) -> Figure:
        """The phase's curves with its rule of thumb (`xmllib.plots.phase_curves`)."""
        return phase_curves(self.history, self.phase, self.start)

    def heatmaps(self) -> Figure:
        """The fixed batch with its heatmaps after the phase's last epoch."""
        return frame_grid(self.batch, self.frames, self.class_names, self.phase)

    def animation(self, fps: float = 2.0) -> Image:
        """The fixed batch's heatmaps across the epochs of the phase, as a GIF."""
        return heatmap_animation(self.batch, self.frames, self.phase, fps=fps)

    def rule_of_thumb(self) -> str:
        """Where the authors' rule of thumb would have stopped this phase, in words."""
        return rule_of_thumb_report(self.history, self.phase, self.start)


def phase_verdict_line(result: PhaseResult, setup: NotebookConfig) -> str:
    """`phase_verdict` of the result's phase on the notebooks' val split, or a line saying it has none."""
    labels = notebook_loaders(setup)["val"].dataset.labels
    verdict = phase_verdict(result.history, result.phase, majority_share(labels))
    if verdict is not None:
        return verdict
    best = kept_epoch(result.history, result.phase)
    return (f"phase {result.phase} kept val accuracy {best['val_accuracy']:.3f} (epoch {int(best['epoch'])}, "
            f"the weights kept): it neither ended at chance nor diverged")


def phase_checkpoint(setup: NotebookConfig, phase: int) -> Path:
    """Where phase `phase` is cached."""
    return setup.folder / f"phase{phase}.pt"


def cached_phase(phase: int, setup: NotebookConfig, *, show: bool = True) -> PhaseResult:
    """The model after `phase`: from its checkpoint, or trained (with the phases before it) when missing.

    A checkpoint made with another configuration or dataset counts as missing. With
    `show`, the phase's curves and the fixed batch's heatmaps are drawn: live while
    it trains, or as they ended when loaded. Phases trained on the way are not drawn.
    """
    setup.config.phase(phase)  # refuses a phase other than 1, 2 or 3
    path = phase_checkpoint(setup, phase)
    state = _matching_state(path, setup)
    if state is not None:
        result = _result_from_state(state, setup, path)
        if show:
            print(f"phase {phase} loaded from {path}")
            display(figure_png(result.curves()), figure_png(result.heatmaps()))
        return result
    previous = cached_phase(phase - 1, setup, show=False) if phase > 1 else None
    print(f"{path} is missing: training phase {phase} now")
    result = _train(phase, setup, setup.config, previous, show=show, redraw="handles")
    _save(result, setup, path)
    result.checkpoint = path
    return result


def _matching_state(path: Path, setup: NotebookConfig) -> dict[str, Any] | None:
    """The checkpoint at `path` if it was made with this setup, else None (saying why when it exists)."""
    try:
        return load_matching(path, setup.config, spec=dataclasses.asdict(setup.spec))
    except CheckpointMismatch as mismatch:
        print(f"{mismatch}: phase trained again")
        return None


def _result_from_state(state: Mapping[str, Any], setup: NotebookConfig, path: Path) -> PhaseResult:
    model = place_model(model_from_state(dict(state), setup.config), setup.config).eval()
    loaders = notebook_loaders(setup)
    return PhaseResult(
        phase=state["phase"], model=model, history=pd.DataFrame(state["history"]),
        class_names=list(state["class_names"]), start=dict(state["start"]),
        frames=HeatmapFrames.from_state_dict(state["frames"]), batch=fixed_batch(loaders["val"].dataset),
        checkpoint=path,
    )


def _save(result: PhaseResult, setup: NotebookConfig, path: Path) -> None:
    epochs = int((result.history["phase"] == result.phase).sum())
    save_checkpoint(path, checkpoint_dict(
        setup.config, result.class_names, result.model, phase=result.phase, epoch=epochs, phase_done=True,
        history=result.history.to_dict("records"), spec=dataclasses.asdict(setup.spec), start=result.start,
        frames=result.frames.state_dict(),
    ))


def _train(phase: int, setup: NotebookConfig, config: Config, previous: PhaseResult | None, *,
           show: bool, redraw: Literal["handles", "clear"]) -> PhaseResult:
    """Train `phase` of `config` from the model of `previous` (a new model for phase 1)."""
    torch.set_flush_denormal(True)  # as `xmllib.training.train` does: denormals slow CPU training down
    loaders = notebook_loaders(setup)
    class_names = list(loaders["train"].dataset.classes)
    if previous is None:
        seed_everything(config.seed)
        model = place_model(model_from_config(config, len(class_names)), config)
    else:
        model = previous.model
    batch = fixed_batch(loaders["val"].dataset)
    start = phase_start(model, config, phase, loaders)
    # inside a widget (redraw "clear"), the live figures' redrawing would wipe a bar out
    bar = [] if redraw == "clear" else [ProgressBar(phase, config.phase(phase).epochs_for(len(loaders["train"])))]
    live = LiveTraining(model, batch, phase, start=start, class_names=class_names, show=show, redraw=redraw)
    history = train_phase(model, config, phase, loaders, class_names=class_names, callbacks=[*bar, live],
                          history=None if previous is None else previous.history)
    model.eval()
    return PhaseResult(phase, model, history, class_names, start, live.frames, batch, checkpoint=None)


def phase_values(config: Config, phase: int, **values: float | int) -> Config:
    """`config` with the values of one phase changed: alpha, lr_clf, lr_expl, epochs, patience."""
    unknown = sorted(set(values) - set(PER_PHASE))
    if unknown:
        raise ConfigError(f"{unknown} are not per-phase values; per-phase values: {', '.join(PER_PHASE)}")
    changes = {}
    for name, value in values.items():
        per_phase = list(getattr(config, name))
        per_phase[phase - 1] = value
        changes[name] = tuple(per_phase)
    return config.replace(**changes)


def retrain_problem(phase: int, config: Config) -> str | None:
    """Why `phase` of `config` would train nothing, or None when it can train."""
    values = config.phase(phase)
    trains_explainer, trains_classifier = TRAINS[phase]
    if trains_classifier and not trains_explainer and values.alpha == 0:
        return "with alpha = 0 the classifier gets no classification signal: nothing would train; raise alpha"
    if trains_classifier and values.lr_clf == 0:
        return f"phase {phase} trains the classifier: lr_clf must be > 0"
    if trains_explainer and values.lr_expl == 0:
        return f"phase {phase} trains the explainer: lr_expl must be > 0"
    return None


def retrain_phase(phase: int, setup: NotebookConfig, **values: float | int) -> PhaseResult | None:
    """Train `phase` again from the cached phase before it, with other per-phase `values`; not cached.

    For the notebooks' retrain button: wrong values print a message and return None
    instead of raising. Draws live (clearing its output, as inside a widget) and ends
    with the animation of the heatmaps.
    """
    try:
        config = phase_values(setup.config, phase, **values)
    except ConfigError as error:
        print(f"not trained: {error}")
        return None
    problem = retrain_problem(phase, config)
    if problem is not None:
        print(f"not trained: {problem}")
        return None
    previous = cached_phase(phase - 1, setup, show=False) if phase > 1 else None
    result = _train(phase, setup, config, previous, show=True, redraw="clear")
    display(result.animation())
    return result
