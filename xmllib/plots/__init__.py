"""Figures: every figure of the package, by what it shows.

- `drawing`: the heatmap colours, panels and mask outlines every figure draws with; `figure_png`.
- `explanations`: overlays, explanation grids, heatmap strips, frames over epochs, gates, the playground.
- `training`: the curves of all phases, and one phase's curves with the authors' rule of thumb.
- `data`: a sample with its mask, and augmented copies.
- `evaluation`: ROC and precision-recall curves, the paper's AOPC figure.
"""

from xmllib.plots.data import augmentation_figure, sample_figure
from xmllib.plots.drawing import (
    HEATMAP_CMAP,
    NOTEBOOK_DPI,
    OUTLINE_COLOUR,
    figure_png,
    shrunk_png,
)
from xmllib.plots.evaluation import aopc_grid, aopc_selection, roc_pr_curves
from xmllib.plots.explanations import (
    FrameGrid,
    explanation_grid,
    frame_grid,
    heatmap_animation,
    heatmap_strip,
    init_bias_figure,
    overlay,
    playground_figure,
    pooling_figure,
)
from xmllib.plots.training import TRAINING_PANELS, phase_curves, training_curves

__all__ = [
    "FrameGrid",
    "HEATMAP_CMAP",
    "NOTEBOOK_DPI",
    "OUTLINE_COLOUR",
    "TRAINING_PANELS",
    "aopc_grid",
    "aopc_selection",
    "augmentation_figure",
    "explanation_grid",
    "figure_png",
    "frame_grid",
    "heatmap_animation",
    "heatmap_strip",
    "init_bias_figure",
    "overlay",
    "phase_curves",
    "playground_figure",
    "pooling_figure",
    "roc_pr_curves",
    "sample_figure",
    "shrunk_png",
    "training_curves",
]
