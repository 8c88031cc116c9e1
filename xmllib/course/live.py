"""Training you can watch in a notebook: the callbacks that redraw after every epoch.

- `LiveTraining` (a `xmllib.training.Callback`): after every epoch it redraws the
  phase's loss and accuracy curves (`xmllib.plots.phase_curves`, with the authors' rule
  of thumb) and the heatmaps of a fixed batch (`xmllib.plots.FrameGrid`), in place,
  through IPython display handles; it keeps the fixed batch's heatmaps of every epoch
  (`HeatmapFrames`), which `xmllib.plots.heatmap_animation` turns into a GIF.
- `ProgressBar`: a text bar over the epochs of a phase.
- `rule_of_thumb_report`: where the phase's rule of thumb (`xmllib.plots.training`)
  would have stopped it, in words.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import torch
from IPython.display import (
    DisplayHandle,
    Image,
    Markdown,
    Pretty,
    clear_output,
    display,
)
from matplotlib.figure import Figure
from torch import Tensor
from tqdm.auto import tqdm

from xmllib.evaluation.verdicts import kept_epoch
from xmllib.models import ExplainerClassifier
from xmllib.plots import (
    NOTEBOOK_DPI,
    TRAINING_PANELS,
    FrameGrid,
    figure_png,
    heatmap_animation,
    phase_curves,
)
from xmllib.plots.training import (
    COLLAPSED,
    RULES_OF_THUMB,
    phase_rows,
    rule_of_thumb_epoch,
)
from xmllib.training import Callback

CURVES_PENDING = Markdown("*The curves appear after the first epoch.*")


def rule_of_thumb_report(history: pd.DataFrame, phase: int, start: Mapping[str, float]) -> str:
    """Where the phase's rule of thumb would have stopped it, in a sentence or two (validation values)."""
    rows = phase_rows(history, phase, start)
    rule = RULES_OF_THUMB.get(phase)
    if rule is None:
        best = rows.drop(index=0)["val_loss"].idxmin()
        return (f"phase {phase} has no rule of thumb: it runs long, and early stopping keeps the weights of "
                f"the epoch of lowest validation loss (epoch {best:.0f}).")
    values = rows[f"val_{rule.column}"]
    first, last = values.iloc[0], values.iloc[-1]
    if not first > 0:
        return (f"Phase {phase}: {rule.advice}. The validation {TRAINING_PANELS[rule.column]} was already {first:.3g} "
                f"before the phase: the rule, a fraction of the start, does not apply.")
    epoch = rule_of_thumb_epoch(values.to_numpy(), rule.fraction)
    reached = (f"it reached {rule.fraction:.0%} of its start after epoch {epoch}" if epoch is not None
               else f"it did not reach {rule.fraction:.0%} of its start: the authors would train longer")
    text = (f"Phase {phase}: {rule.advice}. The validation {TRAINING_PANELS[rule.column]} went from {first:.3f} "
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
                 show: bool = True, redraw: Literal["handles", "clear"] = "handles", dpi: int = NOTEBOOK_DPI) -> None:
        if redraw not in ("handles", "clear"):
            raise ValueError(f"redraw must be 'handles' or 'clear', got {redraw!r}")
        self.batch, self.phase, self.start, self.class_names = batch, phase, start, class_names
        self.show, self.redraw, self.dpi = show, redraw, dpi
        self.history: pd.DataFrame | None = None
        self.frames = HeatmapFrames()
        self.frames.add(0, model, batch["image"])
        self._grid: FrameGrid | None = None
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
        if self._grid is None:
            self._grid = FrameGrid(self.batch, self.frames, self.class_names, self.phase)
        return curves, self._grid.show()

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
    """A text bar over the epochs of one phase, redrawn in place after each epoch, then a record line.

    Drawn through a display handle rather than a widget (a widget's saved text is its
    first one); printed line by line outside IPython. When the phase ends the bar gives
    way to one line saying what was trained (`record`), so a saved notebook keeps no bar,
    full or stopped early, only what the run did.
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

    def on_phase_end(self, history: pd.DataFrame, model: ExplainerClassifier) -> None:
        self._show(self.record(history))

    def record(self, history: pd.DataFrame) -> str:
        """What the phase trained, in one line: epochs, minutes and seconds, and the val figures of the epoch whose
        weights it kept."""
        rows = history[history["phase"] == self.phase]
        minutes, seconds = divmod(round(time.perf_counter() - self.began), 60)
        kept = kept_epoch(history, self.phase)
        return (f"phase {self.phase} trained {len(rows)} of {self.epochs} epochs in {minutes} min {seconds} s; "
                f"kept epoch {int(kept['epoch'])}: val loss {kept['val_loss']:.3f}, "
                f"val accuracy {kept['val_accuracy']:.2f}")

    def _show(self, text: str) -> None:
        if self.handle is None:
            print(text)
        else:
            self.handle.update(Pretty(text))
