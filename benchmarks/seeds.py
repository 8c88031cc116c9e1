"""A training recipe over several seeds: each seed's test figures, then their mean and worst.

Trains `python -m xmllib train` once per seed (same flags; each seed in a process of its
own, `--jobs` at a time, the machine's threads shared among them) and prints, per seed:
test accuracy, target selectivity and its every-object reference, mass inside the mask,
the val accuracy of the epoch phase 2 kept and how far its explanation loss fell, and
phase 3's swing (its lowest val accuracy after it first reached 0.9), and the minutes its
training took (with --jobs > 1 the seeds share the machine: not a speed figure). A recipe is
judged by its worst seed. A seed whose run folder is complete is read, not trained again
(its checkpoint must be of the same configuration). Writes seeds.csv to --out.

    python benchmarks/seeds.py --dataset data/polygons/index.csv --out runs/seeds --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from xmllib.config import PRESETS, add_config_arguments, config_from_args
from xmllib.evaluation.verdicts import kept_epoch, swing_of
from xmllib.runs import train_run

#: (column, better when higher): the worst seed is the minimum of the first kind, the maximum of the second
FIGURES = {"test_accuracy": True, "target_selectivity": True, "every_object_selectivity": True,
           "mass_inside_mask": True, "phase2_kept_val_accuracy": True, "phase2_expl_loss_fall": True,
           "phase3_lowest_after_0.9": True, "minutes": False}


def phase_figures(history: pd.DataFrame) -> dict[str, float]:
    """Phase 2's kept val accuracy and the fall of its val explanation loss; phase 3's lowest val accuracy after
    it first reached 0.9 (nan when it never did)."""
    phase2 = history[history["phase"] == 2]
    kept = kept_epoch(history, 2)
    swing = swing_of(history[history["phase"] == 3].reset_index(drop=True))
    return {"phase2_kept_val_accuracy": kept["val_accuracy"],
            "phase2_expl_loss_fall": phase2["val_expl_loss"].iloc[0] - kept["val_expl_loss"],
            "phase3_lowest_after_0.9": swing[1]["val_accuracy"] if swing is not None else float("nan")}


def one_seed(dataset: str, config_dict: dict[str, Any], seed: int, out: str, threads: int) -> dict[str, Any]:
    """Train one seed quietly in this process; its figures."""
    torch.set_num_threads(threads)
    config = PRESETS["paper"].from_dict({**config_dict, "seed": seed})
    with contextlib.redirect_stdout(io.StringIO()):
        summary = train_run(dataset, config, Path(out) / f"seed{seed}")
    history = pd.concat(pd.read_csv(Path(out) / f"seed{seed}" / f"history_phase{phase}.csv") for phase in (1, 2, 3))
    return {"seed": seed, **{key: summary[key] for key in FIGURES if key in summary},
            **phase_figures(history), "minutes": history["seconds"].sum() / 60, "warnings": len(summary["warnings"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--jobs", type=int, default=1, help="seeds trained at once")
    parser.add_argument("--preset", default="tutorial", choices=sorted(PRESETS))
    parser.add_argument("--config", default=None)
    add_config_arguments(parser)
    args = parser.parse_args()
    config = config_from_args(args).to_dict()
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(one_seed, *zip(*[(args.dataset, config, seed, args.out, threads)
                                               for seed in args.seeds])))
    table = pd.DataFrame(rows)
    table.to_csv(Path(args.out) / "seeds.csv", index=False)
    columns = ["seed", *FIGURES, "warnings"]
    print(table[columns].round(3).to_string(index=False))
    figures = table[list(FIGURES)]
    worst = {key: figures[key].min() if higher else figures[key].max() for key, higher in FIGURES.items()}
    print(pd.DataFrame({"mean": figures.mean(), "worst": pd.Series(worst)}).T.round(3).to_string())


if __name__ == "__main__":
    main()
