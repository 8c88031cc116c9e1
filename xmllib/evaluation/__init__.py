"""Evaluation of explanations: MoRF curves and AOPC, post-hoc baselines, localisation, methods ranked.

The report that runs them all on a checkpoint is `xmllib.report`.

method.md section 4. Everything works on images in pixel space [0, 1].
"""

from xmllib.evaluation.aopc import aopc, aopc_table, morf_curve, random_order_heatmaps
from xmllib.evaluation.localisation import (
    LOCALISATION_METRICS,
    localisation_table,
    localisation_values,
)
from xmllib.evaluation.patches import default_patch_sizes, patch_order
from xmllib.evaluation.perturbations import PERTURBATIONS, perturbation_fill
from xmllib.evaluation.posthoc import (
    DEFAULT_METHODS,
    IN_MODEL,
    METHODS,
    RANDOM,
    LogitsOf,
    attribution_heatmap,
    method_heatmaps,
    resolve_method,
)
from xmllib.evaluation.ranking import (
    aopc_ranks,
    aopc_summary,
    describe_aopc_ranks,
    describe_localisation_ranks,
    localisation_ranks,
)

__all__ = [
    "DEFAULT_METHODS",
    "IN_MODEL",
    "LOCALISATION_METRICS",
    "METHODS",
    "PERTURBATIONS",
    "RANDOM",
    "LogitsOf",
    "aopc",
    "aopc_ranks",
    "aopc_summary",
    "describe_aopc_ranks",
    "describe_localisation_ranks",
    "aopc_table",
    "attribution_heatmap",
    "default_patch_sizes",
    "localisation_table",
    "localisation_values",
    "localisation_ranks",
    "method_heatmaps",
    "morf_curve",
    "patch_order",
    "perturbation_fill",
    "random_order_heatmaps",
    "resolve_method",
]
