"""The paper's AOPC figure: AOPC(L) against L, rows patch sizes, columns perturbations, one curve per method."""

import pandas as pd
from matplotlib.figure import Figure

from xmllib.evaluation.aopc import AOPC_COLUMNS
from xmllib.evaluation.perturbations import PERTURBATIONS
from xmllib.evaluation.posthoc import RANDOM

PANEL_INCHES = (3.0, 2.3)


def aopc_grid(table: pd.DataFrame) -> Figure:
    """AOPC curves from a table with columns AOPC_COLUMNS (see `aopc_table`).

    Rows: patch sizes, ascending; columns: perturbations, in the paper's order
    (black, blur, gray, uniform, white) among those present. The random-order
    reference is drawn dashed in black; the legend is below the grid.
    """
    missing = set(AOPC_COLUMNS) - set(table.columns)
    if missing or table.empty:
        raise ValueError(f"need a non-empty table with columns {AOPC_COLUMNS}; missing {sorted(missing)}")
    sizes = sorted(table["patch_size"].unique())
    perturbations = [p for p in PERTURBATIONS if p in set(table["perturbation"])]
    methods = list(dict.fromkeys(table["method"]))
    fig = Figure(figsize=(PANEL_INCHES[0] * len(perturbations), PANEL_INCHES[1] * len(sizes)), layout="constrained")
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
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(methods), 6), fontsize="small")
    return fig
