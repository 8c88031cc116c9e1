"""The notebook series from an empty cache, at two commits of the repository, in one run: seconds and ratio.

Checks out each commit into a worktree of its own (under --work), then executes its
notebooks in order (`jupyter nbconvert --execute`, full size, their saved widget states
dropped first, as `make notebooks` does), with that commit's `xmllib` first on the path; the
executed notebooks go to --work/before_outputs and --work/after_outputs, the committed
files are not touched.
The two series run one after the other on the same machine, so their ratio is the
figure to compare; nothing else should run meanwhile. Prints each notebook's seconds at
both commits, the totals and the ratio, and writes series.csv to --work.

    python benchmarks/notebook_series.py --before 01abb3b --after HEAD --work /tmp/series

`--before` defaults to the last commit of 2026-12-01 (ResNet-18 preset, the state the
speed issue measured); `--after` to HEAD.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import nbformat
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "01abb3b"


@contextmanager
def worktree(rev: str, folder: Path) -> Iterator[Path]:
    """A fresh detached worktree of `rev` at `folder` (an older one there is replaced), removed afterwards."""
    if folder.exists():
        remove_worktree(folder)
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), rev], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    try:
        yield folder
    finally:
        remove_worktree(folder)


def missing_requirements(checkout: Path) -> list[str]:
    """The runtime dependencies of `checkout`'s pyproject.toml that this environment lacks (an older commit may
    need one that the current one dropped)."""
    listed = re.search(r"^dependencies = \[(.*?)^\]", (checkout / "pyproject.toml").read_text(), re.S | re.M).group(1)
    names = re.findall(r'^\s*"([A-Za-z0-9_.-]+)', listed, re.M)
    missing = []
    for name in names:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def remove_worktree(folder: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=True)


def drop_widget_state(notebook: Path) -> None:
    """Remove the widget states an earlier run saved, as `make notebooks` does: a run that draws no widget
    would otherwise keep them."""
    saved = nbformat.read(notebook, as_version=4)
    saved.metadata.pop("widgets", None)
    nbformat.write(saved, notebook)


def run_series(checkout: Path, outputs: Path) -> dict[str, float]:
    """Seconds of each numbered notebook of `checkout`, executed in order from an empty cache."""
    outputs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    env.pop("XMLLIB_NOTEBOOK_SMOKE", None)
    seconds = {}
    for notebook in sorted((checkout / "notebooks").glob("[0-9]*.ipynb")):
        drop_widget_state(notebook)
        began = time.monotonic()
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                        "--ExecutePreprocessor.timeout=-1", "--output-dir", str(outputs), notebook.name],
                       cwd=checkout / "notebooks", env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        seconds[notebook.stem] = time.monotonic() - began
        print(f"{checkout.name} {notebook.stem}: {seconds[notebook.stem]:.0f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=BEFORE, help="the commit whose series is the baseline")
    parser.add_argument("--after", default="HEAD", help="the commit compared with it")
    parser.add_argument("--work", required=True, help="folder for the two worktrees, their outputs and series.csv")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}", flush=True)
    times = {}
    for label, rev in (("before", args.before), ("after", args.after)):
        with worktree(rev, work / label) as checkout:
            missing = missing_requirements(checkout)
            if missing:
                sys.exit(f"{rev} needs {', '.join(missing)}, which this environment lacks: "
                         f"pip install {' '.join(missing)}, then run again")
            times[label] = run_series(checkout, work / f"{label}_outputs")
    table = pd.DataFrame(times).rename_axis("notebook")
    table.loc["total"] = table.sum()
    table["ratio"] = table["before"] / table["after"]
    table.to_csv(work / "series.csv")
    print(table.round(1).to_string())


if __name__ == "__main__":
    main()
