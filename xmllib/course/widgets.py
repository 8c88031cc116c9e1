"""Notebook controls: figures redrawn by ipywidgets, and the plain functions that draw them.

Every control is a `LiveFigure`: a few ipywidgets and a drawing function called
with their values. The drawing functions are `xmllib.plots`' (`sample_figure`,
`augmentation_figure`, `init_bias_figure`, `pooling_figure`, `playground_figure`,
`aopc_selection`), ordinary functions that return matplotlib Figures, so they can be
called, tested and saved without a notebook. `retrain_controls` retrains a tutorial
phase with other values. Displayed in a notebook, a `LiveFigure` shows its controls and
one figure below them, redrawn in place whenever a control changes; it is an ordinary
output, so the notebook also reads well where no kernel runs (GitHub, nbviewer). A value
the drawing function rejects shows its message there instead of a figure; it never
raises out of a control.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import pandas as pd
import torch
from IPython.display import DisplayHandle, display
from matplotlib.figure import Figure
from torch import Tensor

from xmllib.config import TRAINS
from xmllib.course.playground import PlaygroundStep, optimise_heatmap, weights_title
from xmllib.course.tutorial import NotebookConfig, PhaseResult, retrain_phase
from xmllib.data import IndexDataset
from xmllib.models import ExplainerClassifier, build_model
from xmllib.plots import (
    aopc_selection,
    augmentation_figure,
    figure_png,
    init_bias_figure,
    playground_figure,
    pooling_figure,
    sample_figure,
)

WIDGET_DPI = 80
Drawing = Figure | Iterable[Figure]


class LiveFigure:
    """Controls and the figure `draw(**values)` makes of their values.

    draw: returns a Figure, or an iterator of Figures (each one is shown as it comes,
    e.g. while an optimisation converges; the last one stays). controls: the widgets
    whose values are passed to `draw` under their keys; every change of their values
    redraws, in place of the one figure shown below the controls (a slow drawing gives its
    sliders `continuous_update=False`, so that a drag redraws once, where it is released).
    The default state is drawn once at construction
    and kept as `default` (a figure, or the message rejecting the default values). `figure`
    is the last figure drawn (None after a rejected value) and `message` the last rejection
    (None after a figure).
    """

    def __init__(self, draw: Callable[..., Drawing], controls: Mapping[str, widgets.ValueWidget]) -> None:
        self.draw = draw
        self.controls = dict(controls)
        for control in self.controls.values():
            control.observe(lambda _: self.redraw(), names="value")
        self.widget = widgets.VBox(list(self.controls.values()))
        self.shown: DisplayHandle | None = None
        self.figure: Figure | None = None
        self.message: str | None = None
        for _ in self._draw():
            pass
        self.default = self.figure if self.figure is not None else self.message

    def values(self) -> dict[str, object]:
        """The controls' current values, by key."""
        return {key: control.value for key, control in self.controls.items()}

    def redraw(self) -> None:
        """Draw the current values, figure after figure, in place of the figure shown below the controls."""
        for shown in self._draw():
            if self.shown is not None:
                self.shown.update(_displayable(shown))

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
        """The controls, then one figure of their values, which every change redraws in place.

        The figure is an ordinary output (updated through its display id), so a saved
        notebook keeps the last one drawn, also where no kernel runs (GitHub, nbviewer).
        """
        display(self.widget)
        self.shown = display(_displayable(self.figure if self.figure is not None else self.message),
                             display_id=True)


def _displayable(shown: Figure | str) -> object:
    """A figure as a PNG of fixed resolution; a message as it is."""
    return figure_png(shown, WIDGET_DPI) if isinstance(shown, Figure) else shown


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


def init_bias_slider(images: Tensor, explainer_width: int = 16, head: str = "tanh_relu",
                     value: float = 3.0) -> LiveFigure:
    """A slider over `init_bias` (starting at `value`) redrawing the first heatmaps of `images` (`init_bias_figure`)."""
    return LiveFigure(
        lambda init_bias: init_bias_figure(images, first_heatmaps(images, init_bias, explainer_width, head=head),
                                           init_bias, head),
        {"init_bias": widgets.FloatSlider(value=value, min=-3.0, max=5.0, step=0.25, description="init_bias")},
    )


def pooling_slider(heatmap: Tensor) -> LiveFigure:
    """A slider over the gate's size, halving from H / 2 down to 2 (`pooling_figure`)."""
    side = min(heatmap.shape[-2:])
    sizes = [side // 2**k for k in range(1, int(math.log2(side))) if side % 2**k == 0]
    return LiveFigure(
        lambda size: pooling_figure(heatmap, size),
        {"size": widgets.SelectionSlider(options=sizes, value=sizes[len(sizes) // 2], description="gate size")},
    )


def playground_figures(image: Tensor, mask: Tensor, label: int, model: ExplainerClassifier | None, *,
                       alpha: float, beta: float, gamma: float, steps: int = 150,
                       every: int = 25) -> Iterator[Figure]:
    """`optimise_heatmap` run on one image, as a `playground_figure` after each step it yields."""
    title = weights_title(alpha, beta, gamma)
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


@dataclass
class RetrainControls:
    """The retrain sliders and button (`widget`), and the figure of the default run to compare with."""

    widget: widgets.interactive
    default: Figure | None = None

    def _ipython_display_(self) -> None:
        """The controls, then the default run's curves as a static figure (it stays in a saved notebook)."""
        display(self.widget)
        if self.default is not None:
            display(figure_png(self.default))


def retrain_controls(phase: int, setup: NotebookConfig, default: PhaseResult | None = None,
                     train: Callable[..., Any] = retrain_phase) -> RetrainControls:
    """Sliders for the phase's alpha, epochs and the learning rate(s) of what it trains, and a retrain button.

    Nothing trains until the button is pressed; then `train(phase, setup, **values)` runs.
    The sliders start at the configuration's values; `default`, the run made with them,
    is shown below as its curves.
    """
    defaults = setup.config.phase(phase)
    trains_explainer, trains_classifier = TRAINS[phase]
    controls: dict[str, widgets.Widget] = {
        "alpha": widgets.FloatSlider(value=defaults.alpha, min=0.0, max=1.0, step=0.05, description="alpha"),
        "epochs": widgets.IntSlider(value=defaults.epochs, min=1, max=max(20, defaults.epochs), description="epochs"),
    }
    for name, trains, default_rate in (("lr_clf", trains_classifier, defaults.lr_clf),
                                       ("lr_expl", trains_explainer, defaults.lr_expl)):
        if trains:
            controls[name] = widgets.FloatLogSlider(value=default_rate, base=10, min=-5, max=0, step=0.25,
                                                    description=name, readout_format=".1e")
    widget = widgets.interactive(lambda **values: train(phase, setup, **values),
                                 {"manual": True, "manual_name": f"retrain phase {phase}"}, **controls)
    return RetrainControls(widget, None if default is None else default.curves())


def aopc_selectors(table: pd.DataFrame) -> LiveFigure:
    """07_evaluation's selectors: methods, perturbation and patch size, redrawing `aopc_selection`.

    Defaults: every method, the first perturbation, the largest patch size.
    """
    methods = list(dict.fromkeys(table["method"]))
    perturbations = list(dict.fromkeys(table["perturbation"]))
    sizes = sorted(int(size) for size in table["patch_size"].unique())
    controls = {
        "methods": widgets.SelectMultiple(options=methods, value=tuple(methods), description="methods",
                                          rows=min(len(methods), 8)),
        "perturbation": widgets.Dropdown(options=perturbations, value=perturbations[0], description="perturbation"),
        "patch_size": widgets.Dropdown(options=sizes, value=sizes[-1], description="patch size"),
    }
    return LiveFigure(lambda **values: aopc_selection(table, **values), controls)
