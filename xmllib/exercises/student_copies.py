"""Student copies of the solution notebooks: marked solution code replaced by stubs, outputs cleared.

A solution notebook (notebooks/NN_name.ipynb) marks the code a student is to write:

    def sparsity(z):
        # BEGIN SOLUTION: the mean of |z| over each heatmap's pixels, one value per heatmap
        return z.abs().mean(dim=(1, 2))
        # END SOLUTION

In its student copy (exercises/NN_name.ipynb) each marked block, markers included,
becomes `raise NotImplementedError("<hint>")`, indented as the BEGIN line. The copy
also loses its outputs, points its Colab and Binder badges at itself, says what it is
in a note under its title, and records in its metadata (under METADATA_KEY) the
solution it comes from and the checks it runs, for the grader.

The solution notebooks are the one source: `write_student_copies` regenerates the
copies and `stale_copies` names those that are out of date (a test runs it).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from xmllib.exercises import CHECKS

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
METADATA_KEY = "xmllib_exercise"
NOTE_ID = "exercise-note"
SOLUTIONS_DIR = Path("notebooks")
EXERCISES_DIR = Path("exercises")
CHECK_CALL = re.compile(r"\bcheck_(\w+)\(")
NOTE = (
    "**Exercises.** This is the student copy of [`notebooks/{name}`](../notebooks/{name}). Each cell marked "
    "*Exercise* holds a function for you to write in place of its `raise NotImplementedError(...)`, whose message "
    "is a hint; the check cell after it runs your function on several inputs, edge cases included, and tells you "
    "what differs. The rest of the notebook uses the package's tested copy, so it runs whether or not your "
    "functions are written yet."
)


def stub_source(source: str, where: str) -> str:
    """`source` with each marked solution block replaced by a stub that raises NotImplementedError with its hint.

    `where` names the cell in error messages (an unclosed, nested or hint-less marker).
    """
    kept: list[str] = []
    opened: int | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker.startswith(BEGIN):
            if opened is not None:
                raise ValueError(f"{where}, line {number}: {BEGIN} inside the block opened at line {opened}")
            hint = marker[len(BEGIN):].lstrip(":").strip()
            if not hint:
                raise ValueError(f"{where}, line {number}: write the hint after the marker: '{BEGIN}: <hint>'")
            indent = line[: len(line) - len(line.lstrip())]
            kept.append(f"{indent}raise NotImplementedError({json.dumps(hint, ensure_ascii=False)})")
            opened = number
        elif marker == END:
            if opened is None:
                raise ValueError(f"{where}, line {number}: {END} without a {BEGIN} before it")
            opened = None
        elif opened is None:
            kept.append(line)
    if opened is not None:
        raise ValueError(f"{where}, line {opened}: {BEGIN} without an {END}")
    return "\n".join(kept)


def has_exercises(notebook: NotebookNode) -> bool:
    """Whether any code cell of `notebook` marks solution code."""
    return any(cell.cell_type == "code" and BEGIN in cell.source for cell in notebook.cells)


def checks_called(notebook: NotebookNode) -> list[str]:
    """The names of the checks (keys of CHECKS) that the notebook's code cells call, in order."""
    called = [name for cell in notebook.cells if cell.cell_type == "code" for name in CHECK_CALL.findall(cell.source)]
    return [name for name in dict.fromkeys(called) if name in CHECKS]


def student_copy(solution: NotebookNode, name: str) -> NotebookNode:
    """The student copy of the solution notebook `solution`, whose file name is `name`."""
    notebook = copy.deepcopy(solution)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.source = stub_source(cell.source, f"{name}, cell {index}")
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        elif cell.cell_type == "markdown":
            cell.source = (cell.source.replace(f"/blob/main/{SOLUTIONS_DIR}/{name}", f"/blob/main/{EXERCISES_DIR}/{name}")
                           .replace(f"labpath={SOLUTIONS_DIR}%2F{name}", f"labpath={EXERCISES_DIR}%2F{name}"))
    note = nbformat.v4.new_markdown_cell(NOTE.format(name=name))
    note.id = NOTE_ID
    notebook.cells.insert(1, note)
    for key in ("widgets", "language_info"):  # saved widget state; the Python version of the last run
        notebook.metadata.pop(key, None)
    notebook.metadata[METADATA_KEY] = {"solution": f"{SOLUTIONS_DIR}/{name}", "checks": checks_called(notebook)}
    nbformat.validate(notebook)
    return notebook


def notebook_text(notebook: NotebookNode) -> str:
    """The notebook as its file holds it (nbformat's layout, ending with a newline)."""
    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"


def student_copies(solutions: str | Path = SOLUTIONS_DIR) -> dict[str, str]:
    """The text of the student copy of every solution notebook in `solutions` that marks solution code, by file name."""
    paths = sorted(Path(solutions).glob("*.ipynb"))
    if not paths:
        raise ValueError(f"no notebooks in {solutions}: run this from the repository's root, or name the folder "
                         "of the solution notebooks")
    copies = {}
    for path in paths:
        solution = nbformat.read(path, as_version=4)
        if has_exercises(solution):
            copies[path.name] = notebook_text(student_copy(solution, path.name))
    return copies


def generated_copies(exercises: str | Path) -> list[Path]:
    """The notebooks in `exercises` that a previous run generated (their metadata says so)."""
    return [path for path in sorted(Path(exercises).glob("*.ipynb"))
            if METADATA_KEY in json.loads(path.read_text(encoding="utf-8")).get("metadata", {})]


def write_student_copies(solutions: str | Path = SOLUTIONS_DIR, exercises: str | Path = EXERCISES_DIR) -> list[Path]:
    """Write the student copies into `exercises`, removing generated copies whose solution has no exercise any more."""
    copies = student_copies(solutions)
    folder = Path(exercises)
    folder.mkdir(parents=True, exist_ok=True)
    for path in generated_copies(folder):
        if path.name not in copies:
            path.unlink()
    written = []
    for name, text in copies.items():
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    return written


def stale_copies(solutions: str | Path = SOLUTIONS_DIR, exercises: str | Path = EXERCISES_DIR) -> list[str]:
    """File names in `exercises` that are missing, differ from a fresh copy, or have no solution any more."""
    copies = student_copies(solutions)
    folder = Path(exercises)
    stale = [name for name, text in copies.items()
             if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != text]
    if folder.is_dir():
        stale += [path.name for path in generated_copies(folder) if path.name not in copies]
    return stale
