"""Figures of heatmaps: overlays, explanation grids, strips of methods, frames over epochs, gates and the playground."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from IPython.display import Image
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.text import Text
from torch import Tensor

from xmllib.plots.drawing import (
    NOTEBOOK_DPI,
    PANEL_INCHES,
    Array,
    bare,
    draw_heatmap,
    draw_outline,
    heatmap_colorbar,
    image_hwc,
    numpy_array,
    plane,
    show_heatmap,
    show_image,
    show_map,
)

ANIMATION_PANEL_INCHES = 1.1


class Frames(Protocol):
    """Heatmaps and predictions of a fixed batch after some epochs (`xmllib.course.live.HeatmapFrames`)."""

    epochs: list[int]
    heatmaps: list[Tensor]
    predictions: list[Tensor]


class Step(Protocol):
    """One step of the loss playground's optimisation (`xmllib.course.playground.PlaygroundStep`)."""

    step: int
    heatmap: Tensor
    total: float
    explanation: float
    classification: float
    probability: float


def overlay(
    ax: Axes,
    image: Array,
    heatmap: Array,
    mask: Array | None = None,
    alpha: float = 0.5,
    value_range: tuple[float, float] | None = (0.0, 1.0),
) -> AxesImage:
    """Draw `image` with `heatmap` over it at opacity `alpha`, and the outline of `mask`.

    image: a 3 x H x W tensor or an H x W x 3 array in [0, 1]; heatmap and mask:
    1 x H x W or H x W. `value_range` fixes the colour scale (default [0, 1], the
    Explainer's range, so that a dim heatmap looks dim); None scales to the heatmap's
    own min and max. Returns the heatmap's image artist (for a colorbar).
    """
    rgb, values = image_hwc(image), plane(heatmap, "heatmap")
    if values.shape != rgb.shape[:2]:
        raise ValueError(f"heatmap is {values.shape}, image is {rgb.shape[:2]}: they must match")
    ax.imshow(rgb)
    artist = draw_heatmap(ax, values, value_range, alpha=alpha)
    if mask is not None:
        draw_outline(ax, mask)
    return artist


def _class_name(index: int, class_names: Sequence[str] | None) -> str:
    """The name of class `index`, or the index itself when there are no names."""
    return class_names[index] if class_names is not None else str(index)


def _sample_title(
    label: int | None, prediction: int | None, class_names: Sequence[str] | None
) -> tuple[str, str]:
    """Title text and colour of one sample: red when the prediction is wrong."""
    parts = []
    if label is not None:
        parts.append(f"true: {_class_name(label, class_names)}")
    if prediction is not None:
        parts.append(f"pred: {_class_name(prediction, class_names)}")
    wrong = label is not None and prediction is not None and label != prediction
    return "\n".join(parts), "red" if wrong else "black"


def _optional_ints(values: Array | Sequence[int] | None, n: int) -> list[int | None]:
    """Per-sample class indices (n of them), or n Nones when not given."""
    if values is None:
        return [None] * n
    indices = [int(v) for v in numpy_array(values).reshape(-1)]
    if len(indices) != n:
        raise ValueError(f"expected {n} class indices, one per sample, got {len(indices)}")
    return indices


def explanation_grid(
    images: Tensor,
    heatmaps: Tensor,
    masks: Tensor | None = None,
    labels: Tensor | Sequence[int] | None = None,
    predictions: Tensor | Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    ncols: int = 8,
) -> Figure:
    """Per sample, a column of three panels: the image, the heatmap, the overlay with the mask outline.

    images: N x 3 x H x W in [0, 1]; heatmaps: N x 1 x H x W in [0, 1]; masks: N x 1 x H x W.
    `ncols` samples per row of the grid. The image is titled with the true and the
    predicted class, in red when they differ. The figure has 3 N axes, then the colour scale's.
    """
    return _explanation_panels(images, heatmaps, masks, labels, predictions, class_names, ncols).figure


@dataclass
class _ExplanationPanels:
    """An explanation grid and, per sample, the artists that a new frame changes."""

    figure: Figure
    heatmaps: list[AxesImage]
    overlays: list[AxesImage]
    titles: list[Text]


def _explanation_panels(
    images: Tensor,
    heatmaps: Tensor,
    masks: Tensor | None,
    labels: Tensor | Sequence[int] | None,
    predictions: Tensor | Sequence[int] | None,
    class_names: Sequence[str] | None,
    ncols: int,
) -> _ExplanationPanels:
    """`explanation_grid`'s figure with its heatmap, overlay and title artists (see there)."""
    n = len(images)
    if len(heatmaps) != n or (masks is not None and len(masks) != n):
        raise ValueError(f"images, heatmaps and masks must hold the same number of samples ({n})")
    if n == 0 or ncols < 1:
        raise ValueError(f"need at least one sample and ncols >= 1, got {n} samples and ncols={ncols}")
    labels, predictions = _optional_ints(labels, n), _optional_ints(predictions, n)
    cols, rows = min(n, ncols), -(-n // ncols)
    fig = Figure(figsize=(PANEL_INCHES * cols, PANEL_INCHES * 3 * rows), layout="constrained")
    axes = fig.subplots(3 * rows, cols, squeeze=False)
    panels = _ExplanationPanels(fig, [], [], [])
    for i in range(n):
        image_ax, heatmap_ax, overlay_ax = axes[3 * (i // ncols) : 3 * (i // ncols) + 3, i % ncols]
        mask = None if masks is None else masks[i]
        image_ax.imshow(image_hwc(images[i]))
        bare(image_ax)
        title, colour = _sample_title(labels[i], predictions[i], class_names)
        panels.titles.append(image_ax.set_title(title, color=colour, fontsize="small"))
        panels.heatmaps.append(draw_heatmap(heatmap_ax, heatmaps[i], (0.0, 1.0)))
        panels.overlays.append(overlay(overlay_ax, images[i], heatmaps[i], mask))
        if i % ncols == 0:
            for ax, name in zip((image_ax, heatmap_ax, overlay_ax), ("image", "heatmap", "overlay")):
                ax.set_ylabel(name)
    for ax in axes[-3:, cols - (rows * cols - n) :].flat:
        fig.delaxes(ax)
    heatmap_colorbar(fig, panels.heatmaps[-1], [ax for ax in axes.flat if ax.figure is fig], own_scale=False)
    return panels


def heatmap_strip(
    images: Tensor,
    heatmaps_by_name: dict[str, Tensor],
    masks: Tensor | None = None,
    value_range: tuple[float, float] | None = None,
) -> Figure:
    """One row per image: the image, then each named heatmap with the mask outline.

    images: N x 3 x H x W in [0, 1]; each heatmap N x 1 x H x W; masks N x 1 x H x W.
    Methods produce heatmaps on different scales, so by default (`value_range` None)
    each heatmap's colours span its own min to max; pass (0, 1) to compare heatmaps
    on one scale. The figure has N x (1 + number of heatmaps) axes, then the colour scale's.
    """
    n = len(images)
    lengths = [len(heatmaps) for heatmaps in heatmaps_by_name.values()]
    if any(length != n for length in lengths) or (masks is not None and len(masks) != n):
        raise ValueError(f"every heatmap tensor and the masks must hold {n} samples, one per image")
    if n == 0:
        raise ValueError("need at least one image")
    cols = 1 + len(heatmaps_by_name)
    fig = Figure(figsize=(PANEL_INCHES * cols, PANEL_INCHES * n), layout="constrained")
    axes = fig.subplots(n, cols, squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(image_hwc(images[i]))
        bare(axes[i, 0])
        for ax, heatmaps in zip(axes[i, 1:], heatmaps_by_name.values()):
            artist = draw_heatmap(ax, heatmaps[i], value_range)
            if masks is not None:
                draw_outline(ax, masks[i])
    for ax, name in zip(axes[0], ["image", *heatmaps_by_name]):
        ax.set_title(name, fontsize="small")
    heatmap_colorbar(fig, artist, axes.flat, own_scale=value_range is None)
    return fig


def frame_grid(batch: Mapping[str, Tensor], frames: Frames, class_names: Sequence[str] | None = None,
               phase: int | None = None, index: int = -1) -> Figure:
    """The fixed batch with its heatmaps and predictions of frame `index` (default: the last epoch)."""
    return FrameGrid(batch, frames, class_names, phase).show(index)


class FrameGrid:
    """`frame_grid` drawn once and then moved from frame to frame, for a figure redrawn after every epoch.

    Its layout is computed once, when it is made; `show` changes only the heatmaps, the
    overlays, the titles' predictions and the figure's title, so that a frame renders in
    about a third of the time a new `frame_grid` takes (no new axes, no new layout).
    """

    def __init__(self, batch: Mapping[str, Tensor], frames: Frames, class_names: Sequence[str] | None = None,
                 phase: int | None = None) -> None:
        if not frames.epochs:
            raise ValueError("no frames recorded yet")
        self.frames, self.class_names, self.phase = frames, class_names, phase
        self.labels = _optional_ints(batch.get("label"), len(batch["image"]))
        self.panels = _explanation_panels(batch["image"], frames.heatmaps[-1], batch.get("mask"), batch.get("label"),
                                          frames.predictions[-1], class_names, ncols=8)
        self.title = self.panels.figure.suptitle(_frame_title(frames.epochs[-1], phase))
        self.panels.figure.draw_without_rendering()
        self.panels.figure.set_layout_engine("none")

    def show(self, index: int = -1) -> Figure:
        """The figure at frame `index` of the frames (default: the last recorded), as `frame_grid` draws it."""
        predictions = _optional_ints(self.frames.predictions[index], len(self.labels))
        for i, heatmap in enumerate(self.frames.heatmaps[index]):
            values = plane(heatmap, "heatmap")
            self.panels.heatmaps[i].set_data(values)
            self.panels.overlays[i].set_data(values)
            text, colour = _sample_title(self.labels[i], predictions[i], self.class_names)
            self.panels.titles[i].set_text(text)
            self.panels.titles[i].set_color(colour)
        self.title.set_text(_frame_title(self.frames.epochs[index], self.phase))
        return self.panels.figure


def _frame_title(epoch: int, phase: int | None) -> str:
    name = "the phase" if phase is None else f"phase {phase}"
    return f"before {name}" if epoch == 0 else f"{name}, after epoch {epoch}"


def heatmap_animation(batch: Mapping[str, Tensor], frames: Frames, phase: int | None = None,
                      fps: float = 2.0, dpi: int = NOTEBOOK_DPI) -> Image:
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


def init_bias_figure(images: Tensor, heatmaps: Tensor, init_bias: float, head: str = "tanh_relu") -> Figure:
    """`images` (N x 3 x H x W) above `heatmaps`, the first ones a model with this `init_bias` and `head` draws."""
    if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
        raise ValueError(f"images must be N x 3 x H x W with N >= 1, got shape {tuple(images.shape)}")
    n = len(images)
    fig = Figure(figsize=(PANEL_INCHES * n, 2 * PANEL_INCHES + 0.4), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    for k in range(n):
        show_image(axes[0, k], images[k])
        show_map(axes[1, k], heatmaps[k], f"mean {heatmaps[k].mean():.3f}")
    squash = ("tanh", math.tanh(init_bias)) if head == "tanh_relu" else ("sigmoid", 1 / (1 + math.exp(-init_bias)))
    fig.suptitle(f"{head} head, init_bias = {init_bias:g}: first heatmaps, mean {heatmaps.mean():.3f} "
                 f"({squash[0]}({init_bias:g}) = {squash[1]:.3f})", fontsize="small")
    return fig


def pooling_figure(heatmap: Tensor, size: int) -> Figure:
    """A heatmap (1 x H x W) beside its max pooling and its average pooling to `size` x `size` gate values.

    The gate values are written in the cells when there are at most 4 x 4 of them.
    """
    if heatmap.ndim != 3 or heatmap.shape[0] != 1:
        raise ValueError(f"heatmap must be 1 x H x W, got shape {tuple(heatmap.shape)}")
    if not 1 <= size <= min(heatmap.shape[-2:]):
        raise ValueError(f"size must be between 1 and the heatmap's side {min(heatmap.shape[-2:])}, got {size}")
    pooled = {
        "max pooling": F.adaptive_max_pool2d(heatmap, size),
        "average pooling": F.adaptive_avg_pool2d(heatmap, size),
    }
    fig = Figure(figsize=(3 * PANEL_INCHES + 0.5, PANEL_INCHES + 0.5), layout="constrained")
    axes = fig.subplots(1, 3)
    show_map(axes[0], heatmap, f"heatmap {heatmap.shape[-2]} x {heatmap.shape[-1]}")
    for ax, (name, values) in zip(axes[1:], pooled.items()):
        show_map(ax, values, f"{name} to {size} x {size}\nlargest gate value {values.max():.3f}")
        if size <= 4:
            for (row, col), value in zip(torch.cartesian_prod(torch.arange(size), torch.arange(size)).tolist(),
                                         values.flatten().tolist()):
                ax.text(col, row, f"{value:.3f}", ha="center", va="center", fontsize=7,
                        color="black" if value > 0.5 else "white")
    return fig


def playground_figure(image: Tensor, mask: Tensor, trace: Sequence[Step], title: str = "") -> Figure:
    """The image with its mask outline, the heatmap of the last step, and the losses over the steps so far."""
    if not trace:
        raise ValueError("the trace is empty: nothing has been optimised yet")
    last = trace[-1]
    fig = Figure(figsize=(4 * PANEL_INCHES + 1.2, PANEL_INCHES + 0.7), layout="constrained")
    image_ax, heatmap_ax, loss_ax, probability_ax = fig.subplots(1, 4)
    show_image(image_ax, image, mask, "image and mask")
    show_heatmap(heatmap_ax, last.heatmap, mask, f"heatmap after {last.step} steps")
    steps = [s.step for s in trace]
    for name in ("total", "explanation", "classification"):
        loss_ax.plot(steps, [getattr(s, name) for s in trace], marker=".", label=name)
    loss_ax.set_title("losses", fontsize="small")
    loss_ax.set_xlabel("step")
    loss_ax.legend(fontsize="x-small")
    probability_ax.plot(steps, [s.probability for s in trace], marker=".", color="tab:green")
    probability_ax.set_title("p(true class)", fontsize="small")
    probability_ax.set(xlabel="step", ylim=(0, 1.02))
    fig.suptitle(title, fontsize="small")
    return fig
