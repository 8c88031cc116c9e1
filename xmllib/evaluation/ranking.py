"""Methods ranked against each other: by final AOPC per setting and by each localisation metric, with the
sentences that say where one method stands (the notebooks' verdicts on the paper's claims)."""

from __future__ import annotations

import pandas as pd

from xmllib.evaluation.posthoc import IN_MODEL, RANDOM

#: localisation metrics where a lower value is better (POMPOM: the share of the outside that is lit)
LOWER_IS_BETTER = frozenset({"pompom"})


def aopc_summary(table: pd.DataFrame) -> pd.DataFrame:
    """AOPC at the last step of each curve: rows (patch size, method), columns perturbations."""
    last = table[table["step"] == table.groupby(["method", "perturbation", "patch_size"])["step"].transform("max")]
    summary = last.pivot_table(index=["patch_size", "method"], columns="perturbation", values="aopc", sort=False)
    return summary.sort_index(level="patch_size", sort_remaining=False)


def aopc_ranks(table: pd.DataFrame, method: str = IN_MODEL) -> pd.DataFrame:
    """Where `method` ranks by final AOPC (1 = highest) in each (patch size, perturbation), among the methods.

    Columns: patch_size, perturbation, rank, methods (how many were ranked, the random
    order included), best (the method ranked first), random_rank.
    """
    summary = aopc_summary(table)
    rows = []
    for patch_size, block in summary.groupby(level="patch_size", sort=False):
        block = block.droplevel("patch_size")
        for perturbation in block.columns:
            ranking = block[perturbation].rank(ascending=False, method="min")
            rows.append({"patch_size": patch_size, "perturbation": perturbation, "rank": int(ranking[method]),
                         "methods": len(ranking), "best": block[perturbation].idxmax(),
                         "random_rank": int(ranking[RANDOM]) if RANDOM in ranking else None})
    return pd.DataFrame(rows)


def describe_aopc_ranks(ranks: pd.DataFrame, method: str = IN_MODEL) -> str:
    """The ranks of `aopc_ranks` in one sentence: how often `method` ranks first, and its ranks."""
    first = int((ranks["rank"] == 1).sum())
    listed = ", ".join(f"{row.perturbation} {row.patch_size} px: {row.rank} of {row.methods}"
                       for row in ranks.itertuples())
    claim = ("ranks first everywhere, as the paper claims" if first == len(ranks) else
             f"ranks first in {first} of {len(ranks)} settings, so the paper's claim (it ranks first) "
             f"{'holds in part' if first else 'does not hold'} here")
    return f"By AOPC at the last step the {method} heatmap {claim} ({listed})."


def localisation_ranks(table: pd.DataFrame, method: str = IN_MODEL) -> pd.DataFrame:
    """Where `method` ranks (1 = best, ties share the best rank) on each metric of a `localisation_table`.

    Columns: metric, value (the method's), rank, methods (how many were ranked, the random order
    included), best (the method ranked first), random_value (NaN without the random order).
    """
    rows = []
    for metric, block in table.groupby("metric", sort=False):
        values = block.set_index("method")["value"].dropna()
        if method not in values:
            continue
        ranking = values.rank(ascending=metric in LOWER_IS_BETTER, method="min")
        best = values.idxmin() if metric in LOWER_IS_BETTER else values.idxmax()
        rows.append({"metric": metric, "value": float(values[method]), "rank": int(ranking[method]),
                     "methods": len(values), "best": best, "random_value": float(values.get(RANDOM, float("nan")))})
    return pd.DataFrame(rows, columns=["metric", "value", "rank", "methods", "best", "random_value"])


def describe_localisation_ranks(ranks: pd.DataFrame, method: str = IN_MODEL) -> str:
    """The ranks of `localisation_ranks` in sentences: where `method` leads, where it trails and whom,
    and where it does no better than the random order."""
    if ranks.empty:
        return f"No localisation metric could be computed for the {method} heatmap (no masks among the images)."
    listed = "; ".join(f"{row.metric} {row.value:.3f}: {row.rank} of {row.methods}"
                       + ("" if row.rank == 1 else f", behind {row.best}") for row in ranks.itertuples())
    first = int((ranks["rank"] == 1).sum())
    sentences = [f"On localisation the {method} heatmap ranks first on {first} of {len(ranks)} metrics ({listed})."]
    no_better = [row.metric for row in ranks.itertuples() if row.value == row.random_value]
    if no_better:
        sentences.append(f"On {', '.join(no_better)} it scores exactly what the random order scores: "
                         "that metric does not tell them apart here.")
    return " ".join(sentences)
