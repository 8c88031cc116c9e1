"""Student copies of the tutorial notebooks, made by otter-grader's `otter assign` (docs/teachers.md).

The exercises are written in otter's assignment format in the tutorial notebooks
(notebooks/NN_name.ipynb): raw cells open and close each question, its solution and its
tests, and the solution code sits between `# BEGIN SOLUTION` and `# END SOLUTION` lines
(nbgrader reads the same lines). `otter assign` turns the solution code into `...`, the
tests into a `grader.check("<question>")` cell, and writes each question's test file.

`write_student_copies` runs it on every notebook that holds an assignment configuration
and keeps what students get in exercises/: the notebooks and one tests/ folder for all of
them. A few things are made stable, so that the committed copies can be compared with
fresh ones (`stale_copies`, run by a test): the cells otter adds get ids that say what
they are, the run's timings and widget state are dropped, and the Colab and Binder badges
point at the student copy.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat import NotebookNode

CONFIG_CELL = "# ASSIGNMENT CONFIG"
SOLUTIONS_DIR = Path("notebooks")
EXERCISES_DIR = Path("exercises")
TESTS = "tests"
CHECK_CELL = re.compile(r'^grader\.check\("(\w+)"\)$')
ADDED_CELL_IDS = {"%pip install": "otter-install", "# Initialize Otter": "otter-init"}
"""Ids of the cells otter adds at the top, by the start of their source; check cells get `otter-check-<question>`."""


def has_assignment(notebook: NotebookNode) -> bool:
    """Whether `notebook` holds an otter assignment configuration (a raw cell opening with CONFIG_CELL)."""
    return any(cell.cell_type == "raw" and cell.source.startswith(CONFIG_CELL) for cell in notebook.cells)


def otter_assign(solution: Path, out: Path) -> Path:
    """Run `otter assign` on the notebook `solution` into the folder `out`; returns the student folder.

    The solutions' tests are not run here (the test suite runs them, tests/test_exercises_copies.py).
    """
    command = [sys.executable, "-m", "otter", "assign", "--no-run-tests", "--no-pdfs", str(solution), str(out)]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"otter assign failed on {solution}:\n{run.stdout}{run.stderr}")
    return out / "student"


def added_cell_id(cell: NotebookNode, index: int) -> str:
    """A stable id for a cell that otter added: what it is, else where it is."""
    check = CHECK_CELL.match(cell.source.strip())
    if check:
        return f"otter-check-{check.group(1)}"
    return next((cell_id for start, cell_id in ADDED_CELL_IDS.items() if cell.source.startswith(start)),
                f"otter-cell-{index}")


def stabilised(copy: NotebookNode, solution: NotebookNode, name: str) -> NotebookNode:
    """The student copy `copy` of `solution` (file `name`) with stable ids, no run metadata, badges to itself."""
    solution_ids = {cell.id for cell in solution.cells}
    for index, cell in enumerate(copy.cells):
        if cell.id not in solution_ids:
            cell.id = added_cell_id(cell, index)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "markdown":
            cell.source = (cell.source
                           .replace(f"/blob/main/{SOLUTIONS_DIR}/{name}", f"/blob/main/{EXERCISES_DIR}/{name}")
                           .replace(f"labpath={SOLUTIONS_DIR}%2F{name}", f"labpath={EXERCISES_DIR}%2F{name}"))
    for key in ("widgets", "language_info"):  # saved widget state; the Python version of the last run
        copy.metadata.pop(key, None)
    nbformat.validate(copy)
    return copy


def notebook_text(notebook: NotebookNode) -> str:
    """The notebook as its file holds it (nbformat's layout, ending with a newline)."""
    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"


def student_copies(solutions: str | Path = SOLUTIONS_DIR) -> dict[str, str]:
    """What exercises/ should hold, by path inside it: each assignment's student notebook and its tests/ files."""
    paths = sorted(Path(solutions).glob("*.ipynb"))
    if not paths:
        raise ValueError(f"no notebooks in {solutions}: run this from the repository's root, or name the folder "
                         "of the solution notebooks")
    copies: dict[str, str] = {}
    for path in paths:
        solution = nbformat.read(path, as_version=4)
        if not has_assignment(solution):
            continue
        with tempfile.TemporaryDirectory() as out:
            student = otter_assign(path, Path(out) / "dist")
            copy = nbformat.read(student / path.name, as_version=4)
            copies[path.name] = notebook_text(stabilised(copy, solution, path.name))
            for test in sorted((student / TESTS).glob("*.py")):
                copies[f"{TESTS}/{test.name}"] = test.read_text(encoding="utf-8")
    return copies


def generated_files(exercises: str | Path) -> list[str]:
    """The files in `exercises` that a previous run wrote: notebooks with otter's init cell, and tests/*.py."""
    folder = Path(exercises)
    notebooks = [path.name for path in sorted(folder.glob("*.ipynb"))
                 if any(cell.id == "otter-init" for cell in nbformat.read(path, as_version=4).cells)]
    return notebooks + [f"{TESTS}/{path.name}" for path in sorted((folder / TESTS).glob("*.py"))]


def write_student_copies(solutions: str | Path = SOLUTIONS_DIR, exercises: str | Path = EXERCISES_DIR) -> list[Path]:
    """Write the student copies into `exercises`, removing generated files that no solution makes any more."""
    copies = student_copies(solutions)
    folder = Path(exercises)
    (folder / TESTS).mkdir(parents=True, exist_ok=True)
    for name in generated_files(folder):
        if name not in copies:
            (folder / name).unlink()
    for name, text in copies.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / name for name in copies]


def stale_copies(solutions: str | Path = SOLUTIONS_DIR, exercises: str | Path = EXERCISES_DIR) -> list[str]:
    """Files in `exercises` that are missing, differ from a fresh copy, or that no solution makes any more."""
    copies = student_copies(solutions)
    folder = Path(exercises)
    stale = [name for name, text in copies.items()
             if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != text]
    if folder.is_dir():
        stale += [name for name in generated_files(folder) if name not in copies]
    return stale
