"""Grading a class: otter-grader's `otter run` on every submission of a folder, in parallel, without Docker.

`otter grade`, otter's command for a folder, runs each submission in a Docker container
built from an image it downloads; `otter run` grades one submission on this machine.
`grade` runs `otter run` on each submission in its own process, as many at once as there
are cores, each within a time limit, and writes otter grade's output: `final_grades.csv`
(a score per question, the total, the percentage, a grading status) and
`grading-summaries/<submission>.txt` (the feedback of every test: the checks' reports).
A submission that is not a notebook, kills its kernel or runs too long gets its row, with
zeros and the reason in `grading_status`; the others are graded all the same.

Grading runs the students' code: run it in a container or an account that holds nothing else.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

GRADES = "final_grades.csv"
SUMMARIES = "grading-summaries"
COMPLETED = "Completed"
TOTAL, PERCENT, STATUS = "total_points_earned", "percent_correct", "grading_status"
POINTS = re.compile(r"^points\s*=\s*([0-9.]+)\s*$", re.MULTILINE)


@dataclass
class Graded:
    """One submission's grading: its scores by question, the feedback of each, and how the run ended."""

    file: str
    status: str
    scores: dict[str, float] = field(default_factory=dict)
    feedback: dict[str, str] = field(default_factory=dict)


def points_possible(autograder: str | Path) -> dict[str, float]:
    """The points of each question of an otter autograder zip, read from its tests/*.py files."""
    with zipfile.ZipFile(autograder) as archive:
        tests = [name for name in archive.namelist() if re.fullmatch(r"tests/\w+\.py", name)]
        points = {Path(name).stem: POINTS.search(archive.read(name).decode("utf-8")) for name in tests}
    return {question: float(match.group(1)) if match else 1.0 for question, match in sorted(points.items())}


def last_line(text: str) -> str:
    """The last non-empty line of `text` (an error's summary), or "" when there is none."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def otter_run(submission: Path, autograder: Path, timeout: float) -> Graded:
    """Grade one submission with `otter run` in a process of its own, stopped (with its kernel) after `timeout` s."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(autograder), "-o", out,
                   str(submission)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        try:
            _, errors = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return Graded(submission.name, f"timed out after {timeout:g} s")
        results = Path(out) / "results.json"
        if process.returncode != 0 or not results.is_file():
            return Graded(submission.name, f"not graded: {last_line(errors) or f'exit status {process.returncode}'}")
        tests = [test for test in json.loads(results.read_text(encoding="utf-8"))["tests"] if "score" in test]
    return Graded(submission.name, COMPLETED, {test["name"]: float(test["score"]) for test in tests},
                  {test["name"]: test.get("output", "") for test in tests})


def grades_table(graded: list[Graded], possible: dict[str, float]) -> pd.DataFrame:
    """otter grade's table: a row per submission, a column per question, the total, percentage and status."""
    rows = []
    for result in graded:
        scores = {question: result.scores.get(question, 0.0) for question in possible}
        total = sum(scores.values())
        rows.append({"file": result.file, **scores, TOTAL: total,
                     PERCENT: round(100 * total / sum(possible.values()), 1), STATUS: result.status})
    return pd.DataFrame(rows, columns=["file", *possible, TOTAL, PERCENT, STATUS])


def summary(result: Graded) -> str:
    """The feedback of one submission: its status, then each question's test output."""
    return "\n\n".join([f"{result.file}: {result.status}", *result.feedback.values()]) + "\n"


def submissions_in(paths: Iterable[str | Path]) -> list[Path]:
    """The submissions named: files as they are, folders as the .ipynb files in them."""
    found: list[Path] = []
    for path in map(Path, paths):
        found.extend(sorted(path.glob("*.ipynb")) if path.is_dir() else [path])
    return found


def grade(paths: Iterable[str | Path], autograder: str | Path, out: str | Path, timeout: float = 600.0,
          workers: int | None = None, log: Callable[[str], object] = print) -> pd.DataFrame:
    """Grade the submissions in `paths` (files or folders) against the otter autograder zip `autograder`.

    Writes `out`/final_grades.csv and `out`/grading-summaries/, and returns the table.
    `workers` submissions are graded at once (default: one per core).
    """
    autograder, folder = Path(autograder), Path(out)
    possible = points_possible(autograder)
    submissions = submissions_in(paths)
    (folder / SUMMARIES).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        graded = []
        for result in pool.map(lambda path: otter_run(path, autograder, timeout), submissions):
            graded.append(result)
            log(f"{result.file}: {result.status}, {sum(result.scores.values()):g} / {sum(possible.values()):g}")
            (folder / SUMMARIES / f"{Path(result.file).stem}.txt").write_text(summary(result), encoding="utf-8")
    table = grades_table(graded, possible)
    table.to_csv(folder / GRADES, index=False)
    return table
