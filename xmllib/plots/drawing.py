"""What every figure draws with: the heatmap colours, images, maps and mask outlines, and PNGs for notebooks.

Every figure of the package is a `matplotlib.figure.Figure` built with the object API
(no pyplot state, so nothing needs closing and it works under the Agg backend); none
calls `show`. A notebook displays it (`figure_png` for a light PNG); a script calls
`fig.savefig(path)`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from IPython.display import Image
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from PIL import Image as PILImage
from torch import Tensor

HEATMAP_CMAP = "inferno"
"""Perceptually uniform, black for 0 (irrelevant) and near-white for 1 (relevant)."""
OUTLINE_COLOUR = "cyan"
PANEL_INCHES = 1.8
NOTEBOOK_DPI = 60
"""Resolution of the figures shown in notebooks: small PNGs keep a notebook with its outputs light."""

Array = Tensor | np.ndarray


def numpy_array(x: Array) -> np.ndarray:
    """`x` as a NumPy array (tensors are detached and moved to the CPU)."""
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def image_hwc(image: Array) -> np.ndarray:
    """An RGB image as an H x W x 3 array in [0, 1]: from a 3 x H x W tensor or an H x W x 3 array."""
    array = numpy_array(image)
    if isinstance(image, Tensor) and array.ndim == 3 and array.shape[0] == 3:
        array = array.transpose(1, 2, 0)
    elif isinstance(image, Tensor) or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            f"expected a 3 x H x W tensor or an H x W x 3 array, got {type(image).__name__} "
            f"of shape {array.shape}"
        )
    return np.clip(array, 0.0, 1.0)


def plane(x: Array, name: str) -> np.ndarray:
    """A one-channel map (1 x H x W or H x W) as an H x W array."""
    array = numpy_array(x)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"{name} must be 1 x H x W or H x W, got shape {array.shape}")
    return array


def bare(ax: Axes) -> None:
    """Hide ticks and frame but keep the axis labels usable."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def draw_heatmap(
    ax: Axes, heatmap: Array, value_range: tuple[float, float] | None, alpha: float = 1.0
) -> AxesImage:
    """Draw a heatmap; `value_range` None scales the colours to its own min and max."""
    vmin, vmax = value_range if value_range is not None else (None, None)
    bare(ax)
    return ax.imshow(plane(heatmap, "heatmap"), cmap=HEATMAP_CMAP, vmin=vmin, vmax=vmax, alpha=alpha)


def heatmap_colorbar(fig: Figure, artist: AxesImage, axes: Sequence[Axes], own_scale: bool) -> Colorbar:
    """One colour scale beside `axes` for the heatmaps drawn like `artist`.

    With a fixed range it reads the heatmaps' values; when each map spans its own min to
    max (`own_scale`), its two ends say so, so that two maps are not compared by colour.
    """
    bar = fig.colorbar(artist, ax=list(axes), shrink=0.6, fraction=0.04, pad=0.02)
    if own_scale:
        low, high = artist.get_clim()
        bar.set_ticks([low, high], labels=["its min", "its max"])
        bar.set_label("each map on its own scale", fontsize="small")
    else:
        bar.set_label("heatmap value", fontsize="small")
    bar.ax.tick_params(labelsize="x-small")
    return bar


def draw_outline(ax: Axes, mask: Array) -> None:
    """Draw the outline of a binary mask (nothing when the mask is empty or full)."""
    mask = plane(mask, "mask")
    if mask.min() < 0.5 <= mask.max():
        ax.contour(mask, levels=[0.5], colors=OUTLINE_COLOUR, linewidths=1.0)


def show_image(ax: Axes, image: Tensor, mask: Tensor | None = None, title: str = "") -> None:
    """An image (3 x H x W in [0, 1]) with the outline of a mask (1 x H x W) when given."""
    ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
    if mask is not None:
        draw_outline(ax, mask)
    ax.set_title(title, fontsize="small")
    ax.set_axis_off()


def show_map(ax: Axes, values: Tensor, title: str = "") -> None:
    """A one-channel map (H x W, or 1 x H x W) of values in [0, 1], in the heatmap colours."""
    ax.imshow(values.reshape(values.shape[-2:]).numpy(), cmap=HEATMAP_CMAP, vmin=0.0, vmax=1.0)
    ax.set_title(title, fontsize="small")
    ax.set_axis_off()


def show_heatmap(ax: Axes, heatmap: Tensor, mask: Tensor, title: str) -> None:
    """A heatmap (1 x 1 x H x W) with the mask's outline, titled with its means inside and outside the mask."""
    inside = float((heatmap[0] * mask).sum() / mask.sum().clamp(min=1))
    outside = float((heatmap[0] * (1 - mask)).sum() / (1 - mask).sum().clamp(min=1))
    show_map(ax, heatmap, f"{title}\nin mask {inside:.2f}, out {outside:.2f}")
    draw_outline(ax, mask)


def show_binary(ax: Axes, mask: Tensor, title: str) -> None:
    """A binary mask (1 x H x W) in black and white."""
    ax.imshow(mask[0].numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize="small")
    ax.set_axis_off()


def figure_png(figure: Figure, dpi: int = NOTEBOOK_DPI) -> Image:
    """A figure as a PNG for IPython's display (fixed resolution, whatever the backend)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return Image(data=buffer.getvalue(), format="png")


def shrunk_png(path: str | Path, width: int) -> Image:
    """A PNG file scaled down to `width` pixels wide (never up) with 256 colours, for a light notebook."""
    with PILImage.open(path) as image:
        image = image.convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), PILImage.LANCZOS)
    buffer = io.BytesIO()
    image.quantize(colors=256).save(buffer, format="png", optimize=True)
    return Image(data=buffer.getvalue(), format="png")
