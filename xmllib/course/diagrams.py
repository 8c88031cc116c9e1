"""The architecture, read off a real model: shape tables and a block diagram.

Nothing here is drawn from a description: a forward pass through the model, with
forward hooks on the modules of interest, records the shape of every output, so a
table or figure always shows the model as it is (its gates, widths and sizes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from torch import nn

from xmllib.models import Explainer, ExplainerClassifier, GatedClassifier
from xmllib.models.explainer import ConvBlock
from xmllib.models.modes import eval_mode

EXPLAINER_COLOUR = "#f4c27a"
GATE_COLOUR = "#8ecae6"
DATA_COLOUR = "#dddddd"


@torch.no_grad()
def output_shapes(model: nn.Module, names: Sequence[str], run: Callable[[], object]) -> dict[str, tuple[int, ...]]:
    """The output shape (without the batch dimension) of each named submodule of `model` during `run()`.

    The model runs in eval mode; its modes are restored and the hooks removed afterwards.
    """
    modules = dict(model.named_modules())
    unknown = [name for name in names if name not in modules]
    if unknown:
        raise ValueError(f"{unknown} are not submodules of the model; names are those of model.named_modules()")
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [modules[name].register_forward_hook(_shape_recorder(shapes, name)) for name in names]
    try:
        with eval_mode(model):
            run()
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _shape_recorder(shapes: dict[str, tuple[int, ...]], name: str) -> Callable[..., None]:
    def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        shapes[name] = tuple(output.shape[1:])

    return record


def _check_image_size(image_size: int, divisor: int) -> None:
    if image_size < divisor or image_size % divisor:
        raise ValueError(f"image_size must be a positive multiple of {divisor} for this model, got {image_size}")


def gate_table(classifier: GatedClassifier, image_size: int) -> pd.DataFrame:
    """One row per gate of `classifier` on square images of `image_size` pixels.

    Columns: gate (module name), module (its type), channels, height, width (of the
    feature maps the heatmap multiplies), pixels_per_cell (image pixels averaged into
    one gate value: (image_size / height) * (image_size / width)).
    """
    _check_image_size(image_size, classifier.size_divisor)
    images = torch.zeros(1, 3, image_size, image_size)
    heatmap = torch.ones(1, 1, image_size, image_size)
    shapes = output_shapes(classifier.backbone, classifier.gate_names, lambda: classifier(images, heatmap))
    modules = dict(classifier.backbone.named_modules())
    rows = []
    for name in classifier.gate_names:
        channels, height, width = shapes[name]
        rows.append({
            "gate": name,
            "module": type(modules[name]).__name__,
            "channels": channels,
            "height": height,
            "width": width,
            "pixels_per_cell": (image_size // height) * (image_size // width),
        })
    return pd.DataFrame(rows)


def explainer_table(explainer: Explainer, image_size: int) -> pd.DataFrame:
    """One row per direct submodule of the Explainer, in the order the forward pass ran them.

    Columns: block (the submodule's name), module (its type), channels, height, width of its output.
    """
    _check_image_size(image_size, explainer.size_divisor)
    names = [name for name, _ in explainer.named_children()]
    images = torch.zeros(1, 3, image_size, image_size)
    shapes = output_shapes(explainer, names, lambda: explainer(images))
    modules = dict(explainer.named_children())
    return pd.DataFrame(
        [{"block": name, "module": type(modules[name]).__name__, "channels": channels, "height": height,
          "width": width} for name, (channels, height, width) in shapes.items()]
    )


def architecture_figure(model: ExplainerClassifier, image_size: int) -> Figure:
    """A block diagram of `model` on images of `image_size` pixels: the Explainer's U-Net above,
    the gated classifier below, and the heatmap feeding every gate.

    Each box is labelled with its module name and output shape (channels x height x
    width), as recorded by `explainer_table` and `gate_table`; box heights shrink with
    the feature maps' resolution.
    """
    model.check_input_size(image_size, image_size)
    explainer = explainer_table(model.explainer, image_size)
    blocks = explainer[explainer["module"] == ConvBlock.__name__]
    gates = gate_table(model.classifier, image_size)
    images = torch.zeros(1, 3, image_size, image_size)
    (num_classes,) = output_shapes(model, ["classifier"], lambda: model(images))["classifier"]
    columns = max(len(blocks), len(gates)) + 2
    fig = Figure(figsize=(1.05 * columns + 0.5, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.set(xlim=(-0.6, columns - 0.4), ylim=(-0.4, 4.9))
    ax.set_axis_off()
    heatmap_x = _explainer_lane(ax, blocks, image_size, columns)
    _classifier_lane(ax, gates, num_classes, image_size, columns, heatmap_x)
    return fig


def _explainer_lane(ax: Axes, blocks: pd.DataFrame, image_size: int, columns: int) -> float:
    """The top lane: image, the Explainer's blocks with their skips, heatmap. Returns the heatmap box's x."""
    y = 3.4
    _box(ax, 0, y, 1.0, f"image\n3 x {image_size} x {image_size}", DATA_COLOUR)
    xs = _spread(len(blocks) + 1, 1, columns - 1)
    for x, (_, row) in zip(xs, blocks.iterrows()):
        _box(ax, x, y, row["height"] / image_size, f"{row['block']}\n{_shape(row)}", EXPLAINER_COLOUR)
    _box(ax, xs[-1], y, 1.0, f"heatmap\n1 x {image_size} x {image_size}", EXPLAINER_COLOUR)
    _arrows(ax, [0, *xs], y)
    _skips(ax, dict(zip(blocks["block"], xs)), y)
    ax.text(-0.5, 4.75, "Explainer (U-Net; dashed: skips, added)", fontsize="small", fontweight="bold")
    return xs[-1]


def _classifier_lane(ax: Axes, gates: pd.DataFrame, num_classes: int, image_size: int, columns: int,
                     heatmap_x: float) -> None:
    """The bottom lane: image, the gated modules, logits, and the heatmap's line down to every gate."""
    y, bus = 0.8, 2.1
    _box(ax, 0, y, 1.0, f"image\n3 x {image_size} x {image_size}", DATA_COLOUR)
    xs = _spread(len(gates) + 1, 1, columns - 1)
    for x, (_, row) in zip(xs, gates.iterrows()):
        _box(ax, x, y, row["height"] / image_size, f"{row['gate']}\n{_shape(row)}", GATE_COLOUR)
        ax.annotate("", xy=(x, y + 0.55), xytext=(x, bus), arrowprops={"arrowstyle": "->", "color": "gray"})
        ax.text(x + 0.05, 1.75, "x", fontsize="small", color="gray")
    _box(ax, xs[-1], y, 0.35, f"logits\n{num_classes}", DATA_COLOUR)
    _arrows(ax, [0, *xs], y)
    ax.plot([xs[0], heatmap_x, heatmap_x], [bus, bus, 2.85], color="gray", linewidth=1)
    ax.text(xs[0], bus + 0.1, "heatmap, average-pooled to each gate's size, multiplies its feature maps",
            fontsize="small", color="dimgray")
    ax.text(-0.5, -0.35, f"Classifier with {len(gates)} gates", fontsize="small", fontweight="bold")


def _spread(count: int, start: float, stop: float) -> list[float]:
    """`count` evenly spaced x positions from start to stop."""
    step = (stop - start) / max(count - 1, 1)
    return [start + k * step for k in range(count)]


def _shape(row: pd.Series) -> str:
    return f"{row['channels']} x {row['height']} x {row['width']}"


def _box(ax: Axes, x: float, y: float, relative_size: float, label: str, colour: str) -> None:
    """A box centred on (x, y), taller for larger feature maps, with its label."""
    height = 0.35 + 0.75 * relative_size**0.5
    ax.add_patch(FancyBboxPatch((x - 0.42, y - height / 2), 0.84, height, boxstyle="round,pad=0.02",
                                facecolor=colour, edgecolor="black", linewidth=0.6))
    ax.text(x, y, label, ha="center", va="center", fontsize=6.5)


def _skips(ax: Axes, block_x: dict[str, float], y: float) -> None:
    """Dashed arcs from each encoder block encK to the decoder block decK that adds its output."""
    for name, x in block_x.items():
        partner = "dec" + name.removeprefix("enc")
        if name.startswith("enc") and partner in block_x:
            ax.annotate("", xy=(block_x[partner], y + 0.6), xytext=(x, y + 0.6),
                        arrowprops={"arrowstyle": "->", "linestyle": "--", "color": "gray",
                                    "connectionstyle": "arc3,rad=-0.15"})


def _arrows(ax: Axes, xs: Sequence[float], y: float) -> None:
    """Arrows between neighbouring boxes of a lane."""
    for left, right in zip(xs[:-1], xs[1:]):
        ax.annotate("", xy=(right - 0.44, y), xytext=(left + 0.44, y), arrowprops={"arrowstyle": "->"})
