"""Training you can watch in a notebook: callbacks that redraw after every epoch, and their figures.

- `LiveTraining` (a `xmllib.training.Callback`): after every epoch it redraws the
  phase's loss and accuracy curves (`phase_curves`, with the authors' rule of thumb)
  and the heatmaps of a fixed batch (`frame_grid`), in place, through IPython display
  handles; it keeps the fixed batch's heatmaps of every epoch (`HeatmapFrames`).
- `heatmap_animation`: those heatmaps across the epochs, as a small GIF.
- `ProgressBar`: a text bar over the epochs of a phase.

Rules of thumb (method.md section 3): phase 1 stops where the classification loss
is about 25% of its value before the phase (the classifier must stay "unstable" so
that phase 3 can still move it); phase 2 stops where the explanation loss is below
about 20% of its start but not 0 (an explainer at loss 0 outputs black maps and
cannot recover). `phase_curves` draws the threshold on the validation curve and
marks the first epoch that reaches it.
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from IPython.display import DisplayHandle, Image, Markdown, Pretty, clear_output, display
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor
from tqdm.auto import tqdm

from xmllib.models import ExplainerClassifier
from xmllib.plots import explanation_grid, overlay
from xmllib.training import Callback

CURVE_PANELS = {
    "loss": "total loss",
    "clf_loss": "classification loss",
    "expl_loss": "explanation loss",
    "accuracy": "accuracy",
}
LIVE_DPI = 60
"""Resolution of the live figures: small PNGs keep a notebook with its outputs light."""
ANIMATION_PANEL_INCHES = 1.1
CURVES_PENDING = Markdown("*The curves appear after the first epoch.*")


@dataclass(frozen=True)
class RuleOfThumb:
    """Where the authors stop a phase: once `column` falls to `fraction` of its value before the phase."""

    column: str
    fraction: float
    advice: str


RULES_OF_THUMB = {
    1: RuleOfThumb("clf_loss", 0.25, "stop near 25% of the starting classification loss"),
    2: RuleOfThumb("expl_loss", 0.20, "stop below 20% of the starting explanation loss, before it reaches 0"),
}
"""The rules of thumb of method.md section 3, by phase (phase 3 runs long, with early stopping)."""
COLLAPSED = 1e-3
"""A loss below this fraction of its start counts as 0 (phase 2: black maps)."""


def rule_of_thumb_epoch(values: Sequence[float], fraction: float) -> int | None:
    """The first epoch whose value is at most `fraction` times the start, or None.

    values[0] is the value before the phase trains (epoch 0), values[k] the value after epoch k.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0 or not values[0] > 0:
        raise ValueError(f"need a 1-D sequence of values starting with a positive value, got {values.tolist()}")
    reached = np.flatnonzero(values[1:] <= fraction * values[0])
    return int(reached[0]) + 1 if reached.size else None


def rule_of_thumb_report(history: pd.DataFrame, phase: int, start: Mapping[str, float]) -> str:
    """Where the phase's rule of thumb would have stopped it, in a sentence or two (validation values)."""
    rows = _phase_rows(history, phase, start)
    rule = RULES_OF_THUMB.get(phase)
    if rule is None:
        best = rows.drop(index=0)["val_loss"].idxmin()
        return (f"phase {phase} has no rule of thumb: it runs long, and early stopping keeps the weights of "
                f"the epoch of lowest validation loss (epoch {best:.0f}).")
    values = rows[f"val_{rule.column}"]
    first, last = values.iloc[0], values.iloc[-1]
    if not first > 0:
        return (f"Phase {phase}: {rule.advice}. The validation {CURVE_PANELS[rule.column]} was already {first:.3g} "
                f"before the phase: the rule, a fraction of the start, does not apply.")
    epoch = rule_of_thumb_epoch(values.to_numpy(), rule.fraction)
    reached = (f"it reached {rule.fraction:.0%} of its start after epoch {epoch}" if epoch is not None
               else f"it did not reach {rule.fraction:.0%} of its start: the authors would train longer")
    text = (f"Phase {phase}: {rule.advice}. The validation {CURVE_PANELS[rule.column]} went from {first:.3f} "
            f"to {last:.3f} ({last / first:.0%} of its start); {reached}.")
    if last <= COLLAPSED * first:
        text += " It is at 0: the explainer outputs black maps, and cannot recover from them."
    return text


@dataclass
class HeatmapFrames:
    """The fixed batch's predicted classes and heatmaps after each epoch of a phase (epoch 0: before it)."""

    epochs: list[int] = field(default_factory=list)
    heatmaps: list[Tensor] = field(default_factory=list)
    predictions: list[Tensor] = field(default_factory=list)

    def add(self, epoch: int, model: ExplainerClassifier, images: Tensor) -> None:
        """Record the model's predictions and heatmaps of `images` after `epoch`."""
        logits, heatmaps = model.explain(images)
        predictions, heatmaps = logits.argmax(1).cpu(), heatmaps.cpu()
        self.epochs.append(epoch)
        self.heatmaps.append(heatmaps)
        self.predictions.append(predictions)

    def state_dict(self) -> dict[str, Any]:
        """For a checkpoint: heatmaps stored as uint8 (0-255), a quarter of the float size."""
        return {
            "epochs": list(self.epochs),
            "heatmaps": (torch.stack(self.heatmaps) * 255).round().to(torch.uint8),
            "predictions": torch.stack(self.predictions),
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> HeatmapFrames:
        """Inverse of `state_dict` (heatmaps back in [0, 1], to 1/255)."""
        return cls(
            epochs=list(state["epochs"]),
            heatmaps=list(state["heatmaps"].float() / 255),
            predictions=list(state["predictions"]),
        )


def _phase_rows(history: pd.DataFrame | None, phase: int, start: Mapping[str, float] | None) -> pd.DataFrame:
    """The rows of `phase` indexed by epoch, with the start as epoch 0 when given."""
    columns = [f"{split}_{key}" for key in CURVE_PANELS for split in ("train", "val")]
    rows = pd.DataFrame(columns=["epoch", *columns])
    if history is not None and not history.empty:
        missing = [c for c in ["phase", "epoch", *columns] if c not in history.columns]
        if missing:
            raise ValueError(f"history lacks the columns {missing} (docs/design.md lists them)")
        rows = history.loc[history["phase"] == phase, ["epoch", *columns]]
    if start is not None:
        rows = pd.concat([pd.DataFrame([{"epoch": 0, **{c: start[c] for c in columns}}]), rows])
    if rows.empty:
        raise ValueError(f"nothing to draw: the history has no epoch of phase {phase} and no start was given")
    return rows.astype(float).set_index("epoch")


def phase_curves(history: pd.DataFrame | None, phase: int, start: Mapping[str, float] | None = None) -> Figure:
    """Train and validation losses and accuracy over the epochs of one phase, in four panels.

    history: docs/design.md's columns (rows of other phases are ignored); start: the
    same train_/val_ values measured before the phase trained, drawn as epoch 0. With
    a start, the phase's rule of thumb (`RULES_OF_THUMB`) is drawn on its panel: the
    threshold on the validation curve and the first epoch that reaches it. The epoch
    of lowest validation loss, whose weights early stopping keeps, is marked on the
    total loss.
    """
    rows = _phase_rows(history, phase, start)
    fig = Figure(figsize=(12, 2.9), layout="constrained")
    axes = dict(zip(CURVE_PANELS, fig.subplots(1, len(CURVE_PANELS))))
    for key, ax in axes.items():
        for split, colour in (("train", "tab:blue"), ("val", "tab:orange")):
            ax.plot(rows.index, rows[f"{split}_{key}"], marker="o", markersize=3, color=colour, label=split)
        ax.set(title=CURVE_PANELS[key], xlabel=f"epoch of phase {phase}")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.ticklabel_format(axis="y", useOffset=False)
    trained = rows.drop(index=0, errors="ignore")
    if not trained.empty:
        best = trained["val_loss"].idxmin()
        axes["loss"].axvline(best, color="gray", linestyle=":", label=f"lowest val loss (kept): {best:.0f}")
    rule = RULES_OF_THUMB.get(phase)
    if rule is not None and start is not None:
        _draw_rule(axes[rule.column], rows[f"val_{rule.column}"], rule)
    for ax in axes.values():
        ax.legend(fontsize="x-small")
    return fig


def _draw_rule(ax: Axes, values: pd.Series, rule: RuleOfThumb) -> None:
    """The rule's threshold line and the first epoch that reaches it (nothing when the start is not positive)."""
    if not values.iloc[0] > 0:
        return
    threshold = rule.fraction * values.iloc[0]
    ax.axhline(threshold, color="green", linestyle="--", linewidth=1, label=f"{rule.fraction:.0%} of start")
    epoch = rule_of_thumb_epoch(values.to_numpy(), rule.fraction)
    if epoch is not None:
        ax.axvline(values.index[epoch], color="green", linewidth=1, label=f"rule of thumb: epoch {epoch}")
    ax.set_ylim(bottom=0)


def frame_grid(batch: Mapping[str, Tensor], frames: HeatmapFrames, class_names: Sequence[str] | None = None,
               phase: int | None = None, index: int = -1) -> Figure:
    """The fixed batch with its heatmaps and predictions of frame `index` (default: the last epoch)."""
    if not frames.epochs:
        raise ValueError("no frames recorded yet")
    figure = explanation_grid(batch["image"], frames.heatmaps[index], batch.get("mask"), batch.get("label"),
                              frames.predictions[index], class_names)
    figure.suptitle(_frame_title(frames.epochs[index], phase))
    return figure


def _frame_title(epoch: int, phase: int | None) -> str:
    name = "the phase" if phase is None else f"phase {phase}"
    return f"before {name}" if epoch == 0 else f"{name}, after epoch {epoch}"


def figure_png(figure: Figure, dpi: int = LIVE_DPI) -> Image:
    """A figure as a PNG for IPython's display (fixed resolution, whatever the backend)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return Image(data=buffer.getvalue(), format="png")


def heatmap_animation(batch: Mapping[str, Tensor], frames: HeatmapFrames, phase: int | None = None,
                      fps: float = 2.0, dpi: int = LIVE_DPI) -> Image:
    """A GIF of the fixed batch's heatmaps, one frame per recorded epoch, under the images themselves.

    The heatmaps are drawn on the [0, 1] scale with the outline of the masks, when the batch has them.
    """
    if not frames.epochs:
        raise ValueError("no frames recorded yet: train at least one epoch, or pass frames loaded from a checkpoint")
    images, masks, n = batch["image"], batch.get("mask"), len(batch["image"])
    fig = Figure(figsize=(ANIMATION_PANEL_INCHES * n, 2 * ANIMATION_PANEL_INCHES + 0.3), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    artists = []
    for i in range(n):
        axes[0, i].imshow(images[i].permute(1, 2, 0).clamp(0, 1).numpy())
        mask = None if masks is None else masks[i]
        artists.append(overlay(axes[1, i], images[i], frames.heatmaps[0][i], mask, alpha=1.0))
        for ax in axes[:, i]:
            ax.set_axis_off()
    title = fig.suptitle(_frame_title(frames.epochs[0], phase), fontsize="small")

    def draw(k: int) -> list[Any]:
        for i, artist in enumerate(artists):
            artist.set_data(frames.heatmaps[k][i, 0].numpy())
        title.set_text(_frame_title(frames.epochs[k], phase))
        return [*artists, title]

    animation = FuncAnimation(fig, draw, frames=len(frames.epochs), blit=False)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "heatmaps.gif"
        animation.save(path, writer=PillowWriter(fps=fps), dpi=dpi)
        return Image(data=path.read_bytes(), format="gif")


class LiveTraining(Callback):
    """Redraws a phase's curves and a fixed batch's heatmaps after every epoch, and keeps the heatmaps.

    model: the model about to train (its heatmaps of `batch` are frame 0);
    batch: a batch dict (image, and optionally mask and label) of a few images;
    start: the train_/val_ values before the phase (see `phase_curves`).
    redraw: "handles" updates two display outputs in place (they stay in the saved
    notebook); "clear" clears the output and draws again, which is what works inside
    an ipywidgets Output (interact_manual), where display updates are not shown.
    show=False records the frames without drawing anything.
    """

    def __init__(self, model: ExplainerClassifier, batch: Mapping[str, Tensor], phase: int, *,
                 start: Mapping[str, float] | None = None, class_names: Sequence[str] | None = None,
                 show: bool = True, redraw: Literal["handles", "clear"] = "handles", dpi: int = LIVE_DPI) -> None:
        if redraw not in ("handles", "clear"):
            raise ValueError(f"redraw must be 'handles' or 'clear', got {redraw!r}")
        self.batch, self.phase, self.start, self.class_names = batch, phase, start, class_names
        self.show, self.redraw, self.dpi = show, redraw, dpi
        self.history: pd.DataFrame | None = None
        self.frames = HeatmapFrames()
        self.frames.add(0, model, batch["image"])
        self._handles: list[DisplayHandle] = []
        self.draw()

    def on_epoch_end(self, history: pd.DataFrame, model: ExplainerClassifier) -> None:
        self.history = history
        self.frames.add(int(history["epoch"].iloc[-1]), model, self.batch["image"])
        self.draw()

    def on_phase_end(self, history: pd.DataFrame, model: ExplainerClassifier) -> None:
        self.history = history

    def figures(self) -> tuple[Figure | None, Figure]:
        """What is drawn now: the curves (None until there is a point to plot) and the heatmap grid."""
        has_rows = self.history is not None and (self.history["phase"] == self.phase).any()
        curves = phase_curves(self.history, self.phase, self.start) if has_rows or self.start is not None else None
        return curves, frame_grid(self.batch, self.frames, self.class_names, self.phase)

    def draw(self) -> None:
        """Show the current figures (nothing when show is False)."""
        if not self.show:
            return
        curves, grid = self.figures()
        outputs = [CURVES_PENDING if curves is None else figure_png(curves, self.dpi), figure_png(grid, self.dpi)]
        if self.redraw == "clear":
            clear_output(wait=True)
            display(*outputs)
        elif not self._handles:
            self._handles = [display(output, display_id=True) for output in outputs]
        else:
            for handle, output in zip(self._handles, outputs):
                handle.update(output)

    def animation(self, fps: float = 2.0) -> Image:
        """`heatmap_animation` of the frames recorded so far."""
        return heatmap_animation(self.batch, self.frames, self.phase, fps=fps, dpi=self.dpi)


class ProgressBar(Callback):
    """A text bar over the epochs of one phase, redrawn in place after each epoch.

    Drawn through a display handle rather than a widget, so that a saved notebook keeps
    its last state (a widget's saved text is its first one); printed line by line
    outside IPython. Early stopping may end the phase before the bar is full.
    """

    def __init__(self, phase: int, epochs: int) -> None:
        self.phase, self.epochs = phase, epochs
        self.began = time.perf_counter()
        self.handle: DisplayHandle | None = display(Pretty(self.text(0)), display_id=True)

    def text(self, done: int, postfix: str = "") -> str:
        """The bar after `done` epochs."""
        return tqdm.format_meter(done, self.epochs, time.perf_counter() - self.began,
                                 prefix=f"training phase {self.phase}", unit="epoch", postfix=postfix)

    def on_epoch_end(self, history: pd.DataFrame, model: ExplainerClassifier) -> None:
        last = history.iloc[-1]
        done = int((history["phase"] == self.phase).sum())
        self._show(self.text(done, f"val_loss={last['val_loss']:.3f}, val_accuracy={last['val_accuracy']:.2f}"))

    def _show(self, text: str) -> None:
        if self.handle is None:
            print(text)
        else:
            self.handle.update(Pretty(text))
