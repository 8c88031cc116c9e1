"""Notebook controls: figures redrawn by ipywidgets, and the plain functions that draw them.

Every control is a `LiveFigure`: a few ipywidgets and a drawing function called
with their values. The drawing functions (`sample_figure`, `augmentation_figure`,
`init_bias_figure`, `pooling_figure`, `playground_figures`, and `playground_grid` for a
static comparison) are ordinary functions that return matplotlib Figures, so they can
be called, tested and saved without a notebook. Displayed in a notebook, a `LiveFigure`
shows its controls, an output that redraws whenever one of them changes, and a static
figure of its default state, so that the notebook also reads well where no kernel runs
(GitHub, nbviewer). A value the drawing function rejects shows its message in the output
instead of a figure; it never raises out of a control.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import ipywidgets as widgets
import torch
import torch.nn.functional as F
from IPython.display import clear_output, display
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from xmllib.data import IndexDataset, make_augmentation
from xmllib.live import figure_png
from xmllib.models import ExplainerClassifier, build_model
from xmllib.playground import PlaygroundStep, optimise_heatmap
from xmllib.plots import HEATMAP_CMAP, OUTLINE_COLOUR

WIDGET_DPI = 80
PANEL_INCHES = 1.6
Drawing = Figure | Iterable[Figure]


class LiveFigure:
    """Controls and the figure `draw(**values)` makes of their values.

    draw: returns a Figure, or an iterator of Figures (each one is shown as it comes,
    e.g. while an optimisation converges; the last one stays). controls: the widgets
    whose values are passed to `draw` under their keys; every change of their values
    redraws (a slow drawing gives its sliders `continuous_update=False`, so that a drag
    redraws once, where it is released). The default state is drawn once at construction
    and kept as `default` (a figure, or the message rejecting the default values). `figure`
    is the last figure drawn (None after a rejected value) and `message` the last rejection
    (None after a figure).
    """

    def __init__(self, draw: Callable[..., Drawing], controls: Mapping[str, widgets.ValueWidget]) -> None:
        self.draw = draw
        self.controls = dict(controls)
        self.output = widgets.Output()
        for control in self.controls.values():
            control.observe(lambda _: self.redraw(), names="value")
        self.widget = widgets.VBox([*self.controls.values(), self.output])
        self.figure: Figure | None = None
        self.message: str | None = None
        for _ in self._draw():
            pass
        self.default = self.figure if self.figure is not None else self.message

    def values(self) -> dict[str, object]:
        """The controls' current values, by key."""
        return {key: control.value for key, control in self.controls.items()}

    def redraw(self) -> None:
        """Draw the current values into the output, figure after figure."""
        for shown in self._draw():
            with self.output:
                clear_output(wait=True)
                display(_displayable(shown))

    def _draw(self) -> Iterator[Figure | str]:
        """Call `draw`, record each figure it makes (or its rejection) and yield it."""
        try:
            drawing = self.draw(**self.values())
            for figure in [drawing] if isinstance(drawing, Figure) else drawing:
                self.figure, self.message = figure, None
                yield figure
        except ValueError as error:
            self.figure, self.message = None, f"Cannot draw this: {error}"
            yield self.message

    def _ipython_display_(self) -> None:
        """The controls with their output, then the default state as a static figure."""
        display(self.widget, _displayable(self.default))


def _displayable(shown: Figure | str) -> object:
    """A figure as a PNG of fixed resolution; a message as it is."""
    return figure_png(shown, WIDGET_DPI) if isinstance(shown, Figure) else shown


def _draw_outline(ax: Axes, mask: Tensor) -> None:
    """The outline of a binary mask (1 x H x W); nothing when it is empty or full."""
    if mask.max() > 0.5 > mask.min():
        ax.contour(mask[0].numpy(), levels=[0.5], colors=OUTLINE_COLOUR, linewidths=1.0)


def _show_image(ax: Axes, image: Tensor, mask: Tensor | None = None, title: str = "") -> None:
    """An image (3 x H x W in [0, 1]) with the outline of a mask (1 x H x W) when given."""
    ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
    if mask is not None:
        _draw_outline(ax, mask)
    ax.set_title(title, fontsize="small")
    ax.set_axis_off()


def _show_map(ax: Axes, values: Tensor, title: str = "") -> None:
    """A one-channel map (H x W, or 1 x H x W) of values in [0, 1], in the heatmap colours."""
    ax.imshow(values.reshape(values.shape[-2:]).numpy(), cmap=HEATMAP_CMAP, vmin=0.0, vmax=1.0)
    ax.set_title(title, fontsize="small")
    ax.set_axis_off()


def _show_heatmap(ax: Axes, heatmap: Tensor, mask: Tensor, title: str) -> None:
    """A heatmap (1 x 1 x H x W) with the mask's outline, titled with its means inside and outside the mask."""
    inside = float((heatmap[0] * mask).sum() / mask.sum().clamp(min=1))
    outside = float((heatmap[0] * (1 - mask)).sum() / (1 - mask).sum().clamp(min=1))
    _show_map(ax, heatmap, f"{title}\nin mask {inside:.2f}, out {outside:.2f}")
    _draw_outline(ax, mask)


def _show_mask(ax: Axes, mask: Tensor, title: str) -> None:
    """A binary mask (1 x H x W) in black and white."""
    ax.imshow(mask[0].numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize="small")
    ax.set_axis_off()


def _check_index(dataset: IndexDataset, index: int) -> None:
    if not 0 <= index < len(dataset):
        raise ValueError(f"index {index} is outside the split, which holds images 0 to {len(dataset) - 1}")


def sample_figure(dataset: IndexDataset, index: int, show_mask: bool = True) -> Figure:
    """Image `index` of a split with its label, the outline of its mask (when `show_mask`), and the mask."""
    _check_index(dataset, index)
    sample = dataset[index]
    fig = Figure(figsize=(2 * PANEL_INCHES + 0.4, PANEL_INCHES + 0.4), layout="constrained")
    image_ax, mask_ax = fig.subplots(1, 2)
    label = dataset.classes[int(sample["label"])]
    _show_image(image_ax, sample["image"], sample["mask"] if show_mask else None, f"image {index}: {label}")
    _show_mask(mask_ax, sample["mask"], "mask" if bool(sample["has_mask"]) else "no mask")
    return fig


def dataset_browser(dataset: IndexDataset, index: int = 0) -> LiveFigure:
    """A slider over the images of a split, starting at `index`, and a toggle for the mask outline
    (`sample_figure`)."""
    return LiveFigure(
        lambda index, show_mask: sample_figure(dataset, index, show_mask),
        {
            "index": widgets.IntSlider(value=index, min=0, max=len(dataset) - 1, description="image"),
            "show_mask": widgets.Checkbox(value=True, description="mask outline"),
        },
    )


def augmentation_figure(dataset: IndexDataset, index: int, p: float, seed: int, n: int = 5) -> Figure:
    """Image `index` and `n` augmentations of it (`make_augmentation(p, seed)`), above their masks.

    Geometric transforms move the mask with the image; photometric ones change the image only.
    """
    _check_index(dataset, index)
    if n < 1:
        raise ValueError(f"n must be >= 1 augmented copies, got {n}")
    augmented = copy.copy(dataset)
    augmented.augmentation = make_augmentation(p, seed)
    samples = [dataset[index]] + [augmented[index] for _ in range(n)]
    fig = Figure(figsize=(PANEL_INCHES * (n + 1), 2 * PANEL_INCHES + 0.3), layout="constrained")
    axes = fig.subplots(2, n + 1)
    for k, sample in enumerate(samples):
        _show_image(axes[0, k], sample["image"], sample["mask"], "original" if k == 0 else f"augmented {k}")
        _show_mask(axes[1, k], sample["mask"], "its mask")
    fig.suptitle(f"each transform applied with probability p = {p:g} (seed {seed})", fontsize="small")
    return fig


def augmentation_explorer(dataset: IndexDataset, index: int = 0) -> LiveFigure:
    """Sliders for the image (starting at `index`), the probability p of each transform and the seed
    (`augmentation_figure`)."""
    return LiveFigure(
        lambda index, p, seed: augmentation_figure(dataset, index, p, seed),
        {
            "index": widgets.IntSlider(value=index, min=0, max=len(dataset) - 1, description="image"),
            "p": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.1, description="p"),
            "seed": widgets.IntSlider(value=0, min=0, max=20, description="seed"),
        },
    )


def first_heatmaps(images: Tensor, init_bias: float, explainer_width: int = 16, seed: int = 0,
                   head: str = "tanh_relu") -> Tensor:
    """The heatmaps (N x 1 x H x W) a new model draws for `images` before any training.

    The model is `build_model("vgg", ...)` with the explainer `head` and weights from
    `seed` (the same weights for every `init_bias`, whose only effect is the bias of the
    explainer's head), in eval mode, as phase 1 runs its frozen explainer.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model("vgg", 2, explainer_width=explainer_width, init_bias=init_bias, head=head)
    with torch.no_grad():
        return model.eval()(images)[1]


def init_bias_figure(images: Tensor, init_bias: float, explainer_width: int = 16, seed: int = 0,
                     head: str = "tanh_relu") -> Figure:
    """`images` (N x 3 x H x W) above the first heatmaps a model with this `init_bias` and `head` draws of them."""
    if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
        raise ValueError(f"images must be N x 3 x H x W with N >= 1, got shape {tuple(images.shape)}")
    heatmaps = first_heatmaps(images, init_bias, explainer_width, seed, head)
    n = len(images)
    fig = Figure(figsize=(PANEL_INCHES * n, 2 * PANEL_INCHES + 0.4), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    for k in range(n):
        _show_image(axes[0, k], images[k])
        _show_map(axes[1, k], heatmaps[k], f"mean {heatmaps[k].mean():.3f}")
    squash = ("tanh", math.tanh(init_bias)) if head == "tanh_relu" else ("sigmoid", 1 / (1 + math.exp(-init_bias)))
    fig.suptitle(f"{head} head, init_bias = {init_bias:g}: first heatmaps, mean {heatmaps.mean():.3f} "
                 f"({squash[0]}({init_bias:g}) = {squash[1]:.3f})", fontsize="small")
    return fig


def init_bias_slider(images: Tensor, explainer_width: int = 16, head: str = "tanh_relu",
                     value: float = 3.0) -> LiveFigure:
    """A slider over `init_bias` (starting at `value`) redrawing the first heatmaps of `images` (`init_bias_figure`)."""
    return LiveFigure(
        lambda init_bias: init_bias_figure(images, init_bias, explainer_width, head=head),
        {"init_bias": widgets.FloatSlider(value=value, min=-3.0, max=5.0, step=0.25, description="init_bias")},
    )


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
    _show_map(axes[0], heatmap, f"heatmap {heatmap.shape[-2]} x {heatmap.shape[-1]}")
    for ax, (name, values) in zip(axes[1:], pooled.items()):
        _show_map(ax, values, f"{name} to {size} x {size}\nlargest gate value {values.max():.3f}")
        if size <= 4:
            for (row, col), value in zip(torch.cartesian_prod(torch.arange(size), torch.arange(size)).tolist(),
                                         values.flatten().tolist()):
                ax.text(col, row, f"{value:.3f}", ha="center", va="center", fontsize=7,
                        color="black" if value > 0.5 else "white")
    return fig


def pooling_slider(heatmap: Tensor) -> LiveFigure:
    """A slider over the gate's size, halving from H / 2 down to 2 (`pooling_figure`)."""
    side = min(heatmap.shape[-2:])
    sizes = [side // 2**k for k in range(1, int(math.log2(side))) if side % 2**k == 0]
    return LiveFigure(
        lambda size: pooling_figure(heatmap, size),
        {"size": widgets.SelectionSlider(options=sizes, value=sizes[len(sizes) // 2], description="gate size")},
    )


def playground_figure(image: Tensor, mask: Tensor, trace: Sequence[PlaygroundStep], title: str = "") -> Figure:
    """The image with its mask outline, the heatmap of the last step, and the losses over the steps so far."""
    if not trace:
        raise ValueError("the trace is empty: nothing has been optimised yet")
    last = trace[-1]
    fig = Figure(figsize=(4 * PANEL_INCHES + 1.2, PANEL_INCHES + 0.7), layout="constrained")
    image_ax, heatmap_ax, loss_ax, probability_ax = fig.subplots(1, 4)
    _show_image(image_ax, image, mask, "image and mask")
    _show_heatmap(heatmap_ax, last.heatmap, mask, f"heatmap after {last.step} steps")
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


def _weights(alpha: float, beta: float, gamma: float) -> str:
    return f"α = {alpha:g}, β = {beta:g}, γ = {gamma:g}"


def playground_grid(image: Tensor, mask: Tensor, label: int, model: ExplainerClassifier | None,
                    settings: Sequence[tuple[float, float, float]], steps: int = 150) -> Figure:
    """The heatmap `optimise_heatmap` reaches after `steps` steps for each (alpha, beta, gamma) of `settings`."""
    if not settings:
        raise ValueError("settings is empty: give at least one (alpha, beta, gamma)")
    fig = Figure(figsize=(1.9 * (len(settings) + 1), PANEL_INCHES + 0.8), layout="constrained")
    axes = fig.subplots(1, len(settings) + 1)
    _show_image(axes[0], image, mask, "image and mask")
    for ax, (alpha, beta, gamma) in zip(axes[1:], settings):
        *_, last = optimise_heatmap(image, mask, label, alpha=alpha, beta=beta, gamma=gamma, model=model,
                                    steps=steps, every=steps)
        _show_heatmap(ax, last.heatmap, mask, _weights(alpha, beta, gamma))
    return fig


def playground_figures(image: Tensor, mask: Tensor, label: int, model: ExplainerClassifier | None, *,
                       alpha: float, beta: float, gamma: float, steps: int = 150,
                       every: int = 25) -> Iterator[Figure]:
    """`optimise_heatmap` run on one image, as a `playground_figure` after each step it yields."""
    title = _weights(alpha, beta, gamma)
    trace: list[PlaygroundStep] = []
    for step in optimise_heatmap(image, mask, label, alpha=alpha, beta=beta, gamma=gamma, model=model,
                                 steps=steps, every=every):
        trace.append(step)
        yield playground_figure(image, mask, trace, title)


def _weight_slider(name: str, value: float, top: float, step: float) -> widgets.FloatSlider:
    """A slider from 0 to `top` that sends its value where a drag is released (each value starts an optimisation)."""
    return widgets.FloatSlider(value=value, min=0.0, max=top, step=step, description=name, continuous_update=False)


def loss_playground(image: Tensor, mask: Tensor, label: int, model: ExplainerClassifier | None = None, *,
                    steps: int = 150, every: int = 25) -> LiveFigure:
    """alpha, beta and gamma sliders; each change optimises a free heatmap of one image under them anew.

    The figure is redrawn every `every` steps while the heatmap converges (`playground_figures`).
    An optimisation takes a second or two, so a slider redraws where a drag is released, not
    at every value it passes (a key press moves it one step and redraws).
    """
    sliders = {"alpha": _weight_slider("alpha", 0.25 if model is not None else 0.0, 1.0, 0.05),
               "beta": _weight_slider("beta", 0.9, 1.0, 0.05), "gamma": _weight_slider("gamma", 1.0, 5.0, 0.25)}
    return LiveFigure(
        lambda **values: playground_figures(image, mask, label, model, steps=steps, every=every, **values),
        sliders,
    )
