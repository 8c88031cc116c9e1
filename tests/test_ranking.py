"""Methods ranked by AOPC and by localisation, and the sentences that say where one stands."""

import pandas as pd

from xmllib.evaluation import (
    aopc_ranks,
    aopc_summary,
    describe_aopc_ranks,
    describe_localisation_ranks,
    localisation_ranks,
)
from xmllib.evaluation.aopc import AOPC_COLUMNS


def _table(rows):
    return pd.DataFrame(rows, columns=AOPC_COLUMNS)


def test_aopc_summary_takes_the_last_step_of_each_curve():
    table = _table([("a", "black", 4, 0, 0.0), ("a", "black", 4, 1, 0.2), ("a", "black", 4, 2, 0.5),
                    ("a", "black", 8, 0, 0.0), ("a", "black", 8, 1, 0.3),
                    ("random", "black", 4, 0, 0.0), ("random", "black", 4, 2, 0.1)])
    summary = aopc_summary(table)
    assert summary.loc[(4, "a"), "black"] == 0.5
    assert summary.loc[(8, "a"), "black"] == 0.3
    assert summary.loc[(4, "random"), "black"] == 0.1


def test_aopc_ranks_rank_the_last_step_per_setting_and_say_so():
    rows = []
    finals = {("black", 2): {"in-model": 0.5, "saliency": 0.3, "random": 0.1},
              ("gray", 2): {"in-model": 0.2, "saliency": 0.4, "random": 0.3}}
    for (perturbation, size), values in finals.items():
        for method, final in values.items():
            rows += [(method, perturbation, size, 0, 0.0), (method, perturbation, size, 3, final)]
    ranks = aopc_ranks(_table(rows)).set_index("perturbation")
    assert ranks.loc["black", "rank"] == 1 and ranks.loc["gray", "rank"] == 3
    assert ranks.loc["gray", "best"] == "saliency" and ranks.loc["gray", "random_rank"] == 2
    assert (ranks["methods"] == 3).all()
    text = describe_aopc_ranks(ranks.reset_index())
    assert "ranks first in 1 of 2 settings" in text and "holds in part" in text
    assert "black 2 px: 1 of 3, gray 2 px: 3 of 3" in text


def _localisation(values):
    return pd.DataFrame([(method, metric, value, 10, 0) for metric, by_method in values.items()
                         for method, value in by_method.items()],
                        columns=["method", "metric", "value", "n", "excluded"])


LOCALISATION = {"pompom": {"in-model": 1.0, "saliency": 0.4, "random": 1.0},
                "mass_inside_mask": {"in-model": 0.3, "saliency": 0.5, "random": 0.1},
                "pointing_game": {"in-model": 0.9, "saliency": 0.6, "random": 0.2}}


def test_localisation_ranks_put_the_best_first_whichever_way_the_metric_points():
    ranks = localisation_ranks(_localisation(LOCALISATION)).set_index("metric")
    for metric, by_method in LOCALISATION.items():
        lower_first = metric == "pompom"
        ordered = sorted(by_method.values(), reverse=not lower_first)
        assert ranks.loc[metric, "rank"] == ordered.index(by_method["in-model"]) + 1
        assert ranks.loc[metric, "value"] == by_method["in-model"]
    assert ranks.loc["pompom", "best"] == "saliency" and ranks.loc["pompom", "rank"] == 2
    assert ranks.loc["pointing_game", "best"] == "in-model" and (ranks["methods"] == 3).all()


def test_localisation_sentences_say_where_it_trails_and_where_random_scores_the_same():
    text = describe_localisation_ranks(localisation_ranks(_localisation(LOCALISATION)))
    assert "ranks first on 1 of 3 metrics" in text
    assert "pompom 1.000: 2 of 3, behind saliency" in text and "mass_inside_mask 0.300: 2 of 3, behind saliency" in text
    assert "pointing_game 0.900: 1 of 3)" in text
    assert "On pompom it scores exactly what the random order scores" in text


def test_a_metric_the_method_lacks_is_left_out_and_no_metric_at_all_is_said():
    table = _localisation(LOCALISATION)
    table.loc[(table["method"] == "in-model") & (table["metric"] == "pointing_game"), "value"] = float("nan")
    assert list(localisation_ranks(table)["metric"]) == ["pompom", "mass_inside_mask"]
    assert "No localisation metric" in describe_localisation_ranks(localisation_ranks(table.iloc[:0]))
