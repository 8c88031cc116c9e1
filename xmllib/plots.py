"""Figures: heatmap overlays, explanation grids, training curves, ROC and PR curves.

Every function builds a `matplotlib.figure.Figure` with the object API (no pyplot
state, so nothing needs closing and it works under the Agg backend) and returns it;
none calls `show`. A notebook displays a returned Figure; a script calls
`fig.savefig(path)`.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve
from torch import Tensor

from xmllib.metrics import one_vs_rest_problems, roc_auc_per_class

HEATMAP_CMAP = "inferno"
"""Perceptually uniform, black for 0 (irrelevant) and near-white for 1 (relevant)."""
OUTLINE_COLOUR = "cyan"
PANEL_INCHES = 1.8

Array = Tensor | np.ndarray


def _numpy(x: Array) -> np.ndarray:
    """`x` as a NumPy array (tensors are detached and moved to the CPU)."""
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def _image_hwc(image: Array) -> np.ndarray:
    """An RGB image as an H x W x 3 array in [0, 1]: from a 3 x H x W tensor or an H x W x 3 array."""
    array = _numpy(image)
    if isinstance(image, Tensor) and array.ndim == 3 and array.shape[0] == 3:
        array = array.transpose(1, 2, 0)
    elif isinstance(image, Tensor) or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            f"expected a 3 x H x W tensor or an H x W x 3 array, got {type(image).__name__} "
            f"of shape {array.shape}"
        )
    return np.clip(array, 0.0, 1.0)


def _plane(x: Array, name: str) -> np.ndarray:
    """A one-channel map (1 x H x W or H x W) as an H x W array."""
    array = _numpy(x)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"{name} must be 1 x H x W or H x W, got shape {array.shape}")
    return array


def _bare(ax: Axes) -> None:
    """Hide ticks and frame but keep the axis labels usable."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _draw_heatmap(
    ax: Axes, heatmap: Array, value_range: tuple[float, float] | None, alpha: float = 1.0
) -> AxesImage:
    """Draw a heatmap; `value_range` None scales the colours to its own min and max."""
    vmin, vmax = value_range if value_range is not None else (None, None)
    _bare(ax)
    return ax.imshow(_plane(heatmap, "heatmap"), cmap=HEATMAP_CMAP, vmin=vmin, vmax=vmax, alpha=alpha)


def _draw_outline(ax: Axes, mask: Array) -> None:
    """Draw the outline of a binary mask (nothing when the mask is empty or full)."""
    mask = _plane(mask, "mask")
    if mask.min() < 0.5 <= mask.max():
        ax.contour(mask, levels=[0.5], colors=OUTLINE_COLOUR, linewidths=1.0)


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
    rgb, plane = _image_hwc(image), _plane(heatmap, "heatmap")
    if plane.shape != rgb.shape[:2]:
        raise ValueError(f"heatmap is {plane.shape}, image is {rgb.shape[:2]}: they must match")
    ax.imshow(rgb)
    artist = _draw_heatmap(ax, plane, value_range, alpha=alpha)
    if mask is not None:
        _draw_outline(ax, mask)
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
    indices = [int(v) for v in _numpy(values).reshape(-1)]
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
    predicted class, in red when they differ. The figure has 3 N axes.
    """
    n = len(images)
    if len(heatmaps) != n or (masks is not None and len(masks) != n):
        raise ValueError(f"images, heatmaps and masks must hold the same number of samples ({n})")
    if n == 0 or ncols < 1:
        raise ValueError(f"need at least one sample and ncols >= 1, got {n} samples and ncols={ncols}")
    labels, predictions = _optional_ints(labels, n), _optional_ints(predictions, n)
    cols, rows = min(n, ncols), -(-n // ncols)
    fig = Figure(figsize=(PANEL_INCHES * cols, PANEL_INCHES * 3 * rows), layout="constrained")
    axes = fig.subplots(3 * rows, cols, squeeze=False)
    for i in range(n):
        image_ax, heatmap_ax, overlay_ax = axes[3 * (i // ncols) : 3 * (i // ncols) + 3, i % ncols]
        mask = None if masks is None else masks[i]
        image_ax.imshow(_image_hwc(images[i]))
        _bare(image_ax)
        title, colour = _sample_title(labels[i], predictions[i], class_names)
        image_ax.set_title(title, color=colour, fontsize="small")
        _draw_heatmap(heatmap_ax, heatmaps[i], (0.0, 1.0))
        overlay(overlay_ax, images[i], heatmaps[i], mask)
        if i % ncols == 0:
            for ax, name in zip((image_ax, heatmap_ax, overlay_ax), ("image", "heatmap", "overlay")):
                ax.set_ylabel(name)
    for ax in axes[-3:, cols - (rows * cols - n) :].flat:
        fig.delaxes(ax)
    return fig


TRAINING_PANELS = {
    "loss": "total loss",
    "clf_loss": "classification loss",
    "expl_loss": "explanation loss",
    "accuracy": "accuracy",
}


def training_curves(history: pd.DataFrame) -> Figure:
    """Train and validation curves of the losses and the accuracy over the epochs of all phases.

    history: one row per epoch in training order, with a `phase` column and
    train_/val_ columns for loss, clf_loss, expl_loss and accuracy (docs/design.md).
    The x axis is the running epoch across phases (the row number, from 1); vertical
    lines separate the phases, each labelled at the top. Four panels.
    """
    required = ["phase"] + [f"{split}_{key}" for key in TRAINING_PANELS for split in ("train", "val")]
    missing = [column for column in required if column not in history.columns]
    if missing or history.empty:
        raise ValueError(f"history needs rows and the columns {required}; missing {missing}")
    running_epoch = np.arange(1, len(history) + 1)
    phases = history["phase"].to_numpy()
    starts = np.flatnonzero(np.r_[True, phases[1:] != phases[:-1]])
    ends = np.r_[starts[1:], len(phases)]
    fig = Figure(figsize=(10, 6.5), layout="constrained")
    for i, (ax, (key, title)) in enumerate(zip(fig.subplots(2, 2).flat, TRAINING_PANELS.items())):
        curves = pd.DataFrame(
            {
                "epoch": running_epoch,
                "train": history[f"train_{key}"].to_numpy(),
                "val": history[f"val_{key}"].to_numpy(),
            }
        ).melt(id_vars="epoch", var_name="split", value_name=key)
        sns.lineplot(data=curves, x="epoch", y=key, hue="split", marker="o", ax=ax, legend=i == 0)
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, top + 0.12 * (top - bottom))  # headroom for the phase labels
        for start in starts[1:]:
            ax.axvline(start + 0.5, color="gray", linestyle="--", linewidth=1)
        for start, end in zip(starts, ends):
            ax.text(
                (start + end + 1) / 2, 0.98, f"phase {phases[start]}", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize="small", color="gray",
            )
        ax.set(title=title, xlabel="epoch (all phases)", ylabel="")
    return fig


def roc_pr_curves(probs: Tensor, labels: Tensor, class_names: Sequence[str]) -> Figure:
    """ROC curves (AUC in the legend) and precision-recall curves (average precision in the legend).

    probs: N x K softmax probabilities; labels: N class indices; class_names: K names.
    Binary: one curve, class 1 positive. K > 2: one one-vs-rest curve per class. Two
    panels. Average precision (AP) is the area under the stepwise PR curve drawn.
    """
    n_classes = _numpy(probs).shape[-1]
    if len(class_names) != n_classes:
        raise ValueError(f"probs has {n_classes} classes but {len(class_names)} class_names were given")
    aucs = roc_auc_per_class(probs, labels)
    undefined = [class_names[k] for k, auc in aucs.items() if np.isnan(auc)]
    if undefined:
        raise ValueError(
            f"no ROC curve for class(es) {undefined}: labels hold only positives or only negatives"
        )
    roc, pr = [], []
    for k, is_class, score in one_vs_rest_problems(probs, labels):
        fpr, tpr, _ = roc_curve(is_class, score)
        precision, recall, _ = precision_recall_curve(is_class, score)
        ap = average_precision_score(is_class, score)
        roc_label = f"{class_names[k]} (AUC = {aucs[k]:.3f})"
        roc.append(pd.DataFrame({"false positive rate": fpr, "true positive rate": tpr, "class": roc_label}))
        pr_label = f"{class_names[k]} (AP = {ap:.3f})"
        pr.append(pd.DataFrame({"recall": recall, "precision": precision, "class": pr_label}))
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    roc_ax, pr_ax = fig.subplots(1, 2)
    sns.lineplot(
        data=pd.concat(roc), x="false positive rate", y="true positive rate", hue="class",
        estimator=None, sort=False, ax=roc_ax,
    )
    roc_ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1)
    sns.lineplot(
        data=pd.concat(pr), x="recall", y="precision", hue="class",
        estimator=None, sort=False, drawstyle="steps-post", ax=pr_ax,
    )
    roc_ax.set(title="ROC", xlim=(0, 1), ylim=(0, 1.02))
    pr_ax.set(title="precision-recall", xlim=(0, 1), ylim=(0, 1.02))
    return fig


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
    on one scale. The figure has N x (1 + number of heatmaps) axes.
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
        axes[i, 0].imshow(_image_hwc(images[i]))
        _bare(axes[i, 0])
        for ax, heatmaps in zip(axes[i, 1:], heatmaps_by_name.values()):
            _draw_heatmap(ax, heatmaps[i], value_range)
            if masks is not None:
                _draw_outline(ax, masks[i])
    for ax, name in zip(axes[0], ["image", *heatmaps_by_name]):
        ax.set_title(name, fontsize="small")
    return fig
