"""Student copies: generated from the solution notebooks, up to date, without solutions; the solutions pass."""

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import torch

from xmllib.cli import main
from xmllib.evaluation import patch_order
from xmllib.exercises import CHECKS
from xmllib.exercises.student_copies import (
    BEGIN,
    END,
    METADATA_KEY,
    NOTE_ID,
    stale_copies,
    student_copies,
    student_copy,
    stub_source,
    write_student_copies,
)

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, EXERCISES = ROOT / "notebooks", ROOT / "exercises"
EXERCISE_NOTEBOOKS = ["02_architecture.ipynb", "03_losses.ipynb", "04_phase1_classifier.ipynb",
                      "07_evaluation.ipynb"]
CHECK_CELL = re.compile(r"^check_(\w+)\((\w+)\)$")


def solution(name):
    return nbformat.read(SOLUTIONS / name, as_version=4)


def test_the_committed_student_copies_are_up_to_date():
    assert stale_copies(SOLUTIONS, EXERCISES) == [], "run `make exercises` and commit exercises/"


def test_every_exercise_notebook_has_a_copy_and_every_check_is_exercised():
    copies = student_copies(SOLUTIONS)
    assert sorted(copies) == EXERCISE_NOTEBOOKS
    checks = [name for text in copies.values() for name in json.loads(text)["metadata"][METADATA_KEY]["checks"]]
    assert sorted(checks) == sorted(CHECKS)


@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_a_solutions_functions_pass_their_checks(name, capsys):
    """The code between the markers, run with what the notebook imports for it, passes the check cell after it."""
    namespace = {"torch": torch, "patch_order": patch_order}
    checked = []
    for cell in solution(name).cells:
        if cell.cell_type == "code" and BEGIN in cell.source:
            exec(cell.source, namespace)
        elif cell.cell_type == "code" and CHECK_CELL.match(cell.source):
            check, function = CHECK_CELL.match(cell.source).groups()
            assert CHECKS[check](namespace[function]).status == "pass", capsys.readouterr().out
            checked.append(check)
    assert checked


@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_a_student_copy_has_stubs_with_hints_no_solution_and_no_outputs(name):
    notebook = solution(name)
    copy = student_copy(notebook, name)
    text = "\n".join(cell.source for cell in copy.cells)
    assert BEGIN not in text and END not in text
    solution_lines = [line.strip() for cell in notebook.cells if BEGIN in cell.source
                      for line in cell.source.split(BEGIN, 1)[1].split(END, 1)[0].splitlines()[1:] if line.strip()]
    assert solution_lines and not any(line in text for line in solution_lines)
    hints = [line.split(BEGIN + ":", 1)[1].strip() for cell in notebook.cells
             for line in cell.source.splitlines() if BEGIN in line]
    stubs = [line.strip() for cell in copy.cells if cell.cell_type == "code"
             for line in cell.source.splitlines() if "NotImplementedError" in line]
    assert stubs == [f"raise NotImplementedError({json.dumps(hint)})" for hint in hints]
    code = [cell for cell in copy.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None and "execution" not in cell.metadata
               for cell in code)
    assert copy.cells[1].id == NOTE_ID and f"../notebooks/{name}" in copy.cells[1].source
    assert f"blob/main/exercises/{name}" in copy.cells[0].source and f"labpath=exercises%2F{name}" in copy.cells[0].source
    assert f"notebooks/{name}" not in copy.cells[0].source
    assert [cell.id for cell in copy.cells if cell.id != NOTE_ID] == [cell.id for cell in notebook.cells]


def test_a_stub_keeps_the_indentation_and_the_code_around_it():
    source = (f"def f(x):\n    y = 1\n    {BEGIN}: add \"one\"\n    return x + y\n    {END}\n\n"
              f"def g():\n    {BEGIN}: nothing\n    pass\n    {END}\nprint(f)")
    assert stub_source(source, "cell") == ("def f(x):\n    y = 1\n    raise NotImplementedError(\"add \\\"one\\\"\")\n\n"
                                           "def g():\n    raise NotImplementedError(\"nothing\")\nprint(f)")


@pytest.mark.parametrize("source, message", [
    (f"{BEGIN}: a\n{BEGIN}: b\n{END}", "line 2: # BEGIN SOLUTION inside the block opened at line 1"),
    (f"x = 1\n{BEGIN}: a\nx = 2", "line 2: # BEGIN SOLUTION without an # END SOLUTION"),
    (f"x = 1\n{END}", "line 2: # END SOLUTION without a # BEGIN SOLUTION before it"),
    (f"{BEGIN}\nx = 2\n{END}", "line 1: write the hint after the marker"),
])
def test_bad_markers_are_refused_naming_the_cell_and_line(source, message):
    with pytest.raises(ValueError, match=re.escape(f"03_losses.ipynb, cell 4, {message}")):
        stub_source(source, "03_losses.ipynb, cell 4")


@pytest.fixture
def solutions(tmp_path):
    """A folder with two solution notebooks, one of them with exercises."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(SOLUTIONS / "03_losses.ipynb", folder)
    shutil.copy(SOLUTIONS / "01_data.ipynb", folder)
    return folder


def test_write_student_copies_writes_the_exercise_notebooks_and_removes_orphans(solutions, tmp_path):
    out = tmp_path / "exercises"
    out.mkdir()
    orphan = out / "05_old.ipynb"
    orphan.write_text((EXERCISES / "02_architecture.ipynb").read_text())
    own = out / "notes.ipynb"
    own.write_text(nbformat.writes(nbformat.v4.new_notebook()))
    assert write_student_copies(solutions, out) == [out / "03_losses.ipynb"]
    assert not orphan.exists() and own.exists()
    assert stale_copies(solutions, out) == []
    (solutions / "03_losses.ipynb").write_text((SOLUTIONS / "02_architecture.ipynb").read_text())
    assert stale_copies(solutions, out) == ["03_losses.ipynb"]


def test_the_cli_writes_and_checks_the_copies(solutions, tmp_path, capsys):
    out = tmp_path / "exercises"
    with pytest.raises(SystemExit) as stopped:
        main(["exercises", "--notebooks", str(solutions), "--out", str(out), "--check"])
    assert stopped.value.code == 2
    assert "are out of date (03_losses.ipynb): run `python -m xmllib exercises`" in capsys.readouterr().err
    assert main(["exercises", "--notebooks", str(solutions), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "03_losses.ipynb")
    assert main(["exercises", "--notebooks", str(solutions), "--out", str(out), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_the_cli_says_where_the_solutions_are_missing(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["exercises", "--notebooks", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert "no notebooks in" in capsys.readouterr().err
