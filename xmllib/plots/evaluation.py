"""Figures of the evaluation: ROC and precision-recall curves, and the paper's AOPC figure.

scikit-learn is imported by the function that needs it: its import takes most of a second,
which every notebook kernel importing `xmllib.plots` would otherwise pay.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from torch import Tensor

from xmllib.evaluation.aopc import AOPC_COLUMNS
from xmllib.evaluation.perturbations import PERTURBATIONS
from xmllib.evaluation.posthoc import RANDOM
from xmllib.metrics import one_vs_rest_problems, roc_auc_per_class
from xmllib.plots.drawing import numpy_array

AOPC_PANEL_INCHES = (3.0, 2.3)
#: the width one legend entry needs ("integrated_gradients" and its line): the legend takes as many
#: columns as the figure's width holds, so no entry falls off its edges
LEGEND_ENTRY_INCHES = 1.9


def roc_pr_curves(probs: Tensor, labels: Tensor, class_names: Sequence[str]) -> Figure:
    """ROC curves (AUC in the legend) and precision-recall curves (average precision in the legend).

    probs: N x K softmax probabilities; labels: N class indices; class_names: K names.
    Binary: one curve, class 1 positive. K > 2: one one-vs-rest curve per class. Two
    panels. Average precision (AP) is the area under the stepwise PR curve drawn.
    """
    n_classes = numpy_array(probs).shape[-1]
    if len(class_names) != n_classes:
        raise ValueError(f"probs has {n_classes} classes but {len(class_names)} class_names were given")
    aucs = roc_auc_per_class(probs, labels)
    undefined = [class_names[k] for k, auc in aucs.items() if np.isnan(auc)]
    if undefined:
        raise ValueError(
            f"no ROC curve for class(es) {undefined}: labels hold only positives or only negatives"
        )
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

    fig = Figure(figsize=(10, 4.5), layout="constrained")
    roc_ax, pr_ax = fig.subplots(1, 2)
    for k, is_class, score in one_vs_rest_problems(probs, labels):
        fpr, tpr, _ = roc_curve(is_class, score)
        precision, recall, _ = precision_recall_curve(is_class, score)
        roc_ax.plot(fpr, tpr, label=f"{class_names[k]} (AUC = {aucs[k]:.3f})")
        pr_ax.plot(recall, precision, drawstyle="steps-post",
                   label=f"{class_names[k]} (AP = {average_precision_score(is_class, score):.3f})")
    roc_ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1)
    roc_ax.set(title="ROC", xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.02))
    pr_ax.set(title="precision-recall", xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    for ax in (roc_ax, pr_ax):
        ax.legend(title="class")
    return fig


def aopc_grid(table: pd.DataFrame) -> Figure:
    """AOPC curves from a table with columns AOPC_COLUMNS (see `aopc_table`).

    Rows: patch sizes, ascending; columns: perturbations, in the paper's order
    (black, blur, gray, uniform, white) among those present. The random-order
    reference is drawn dashed in black; the legend is below the grid, in as many
    columns as its width holds, or beside a single column of panels.
    """
    missing = set(AOPC_COLUMNS) - set(table.columns)
    if missing or table.empty:
        raise ValueError(f"need a non-empty table with columns {AOPC_COLUMNS}; missing {sorted(missing)}")
    sizes = sorted(table["patch_size"].unique())
    perturbations = [p for p in PERTURBATIONS if p in set(table["perturbation"])]
    methods = list(dict.fromkeys(table["method"]))
    fig = Figure(figsize=(AOPC_PANEL_INCHES[0] * len(perturbations), AOPC_PANEL_INCHES[1] * len(sizes)),
                 layout="constrained")
    axes = fig.subplots(len(sizes), len(perturbations), squeeze=False, sharex="row")
    for row, size in enumerate(sizes):
        for column, perturbation in enumerate(perturbations):
            ax = axes[row, column]
            panel = table[(table["patch_size"] == size) & (table["perturbation"] == perturbation)]
            for method in methods:
                curve = panel[panel["method"] == method].sort_values("step")
                style = {"linestyle": "--", "color": "black"} if method == RANDOM else {}
                ax.plot(curve["step"], curve["aopc"], label=method, linewidth=1.2, **style)
            ax.set_title(f"{perturbation}, {size}x{size} px", fontsize="small")
            ax.tick_params(labelsize="x-small")
            if row == len(sizes) - 1:
                ax.set_xlabel("perturbation steps L", fontsize="small")
            if column == 0:
                ax.set_ylabel("AOPC", fontsize="small")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if len(perturbations) == 1:
        fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    else:
        fits = max(1, int(fig.get_figwidth() // LEGEND_ENTRY_INCHES))
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(methods), fits), fontsize="small")
    return fig


def aopc_selection(table: pd.DataFrame, methods: Sequence[str], perturbation: str, patch_size: int) -> Figure:
    """AOPC curves of some methods for one perturbation and patch size, from `aopc_table`'s table.

    An empty selection raises a ValueError that says what to choose.
    """
    chosen = table[table["method"].isin(list(methods)) & (table["perturbation"] == perturbation)
                   & (table["patch_size"] == patch_size)]
    if chosen.empty:
        raise ValueError(f"no curve for methods {list(methods)}, perturbation {perturbation!r} and patch size "
                         f"{patch_size}: choose at least one method")
    return aopc_grid(chosen)
