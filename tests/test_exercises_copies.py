"""Student copies made by otter assign: up to date, without solutions, tests that call the checks; solutions pass."""

import shutil
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from xmllib import losses
from xmllib.cli import main
from xmllib.evaluation import patch_order
from xmllib.exercises import CHECKS
from xmllib.exercises.student_copies import (
    CONFIG_CELL,
    stale_copies,
    write_student_copies,
)

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, EXERCISES = ROOT / "notebooks", ROOT / "exercises"
EXERCISE_NOTEBOOKS = ["02_architecture.ipynb", "03_losses.ipynb", "04_phase1_classifier.ipynb",
                      "07_evaluation.ipynb"]


def cells(folder, name, kind="code"):
    return [cell for cell in nbformat.read(folder / name, as_version=4).cells if cell.cell_type == kind]


def test_the_committed_student_copies_are_up_to_date():
    assert stale_copies(SOLUTIONS, EXERCISES) == [], "run `make exercises` and commit exercises/"


def test_every_check_has_an_otter_test_that_calls_it_through_assert_passes():
    tests = sorted(path.stem for path in (EXERCISES / "tests").glob("*.py"))
    assert tests == sorted(CHECKS)
    for name in tests:
        source = (EXERCISES / "tests" / f"{name}.py").read_text()
        assert f"assert_passes(check_{name}, " in source and "@test_case(points=None, hidden=False)" in source


@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_a_student_copy_has_stubs_and_check_cells_but_no_solution_nor_outputs(name):
    solution_lines = [line.strip() for cell in cells(SOLUTIONS, name) if "# BEGIN SOLUTION" in cell.source
                      for line in cell.source.split("# BEGIN SOLUTION", 1)[1].split("# END SOLUTION", 1)[0]
                      .splitlines() if line.strip()]
    copy = cells(EXERCISES, name)
    text = "\n".join(cell.source for cell in copy)
    assert solution_lines and not any(line in text for line in solution_lines)
    assert "SOLUTION" not in text and "assert_passes" not in text
    questions = [cell.source.split("name: ", 1)[1].split()[0] for cell in cells(SOLUTIONS, name, "raw")
                 if cell.source.startswith("# BEGIN QUESTION")]
    assert [cell.source for cell in copy if cell.source.startswith("grader.check")] == [
        f'grader.check("{question}")' for question in questions]
    answers = [cell for cell in copy if "otter_answer_cell" in cell.metadata.get("tags", [])]
    assert [cell.source.splitlines()[-1].strip() for cell in answers] == ["..."] * len(questions)
    assert all(cell.outputs == [] and cell.execution_count is None for cell in copy)
    title = cells(EXERCISES, name, "markdown")[0].source
    assert f"blob/main/exercises/{name}" in title and f"notebooks/{name}" not in title


@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_a_solutions_functions_pass_their_otter_tests(name, capsys):
    """The solution cells, run with what the notebook imports for them, pass the test files otter wrote."""
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    namespace = {"torch": torch, "F": F, "losses": losses, "patch_order": patch_order}
    questions = []
    for cell in cells(SOLUTIONS, name):
        if "# BEGIN SOLUTION" in cell.source:
            exec(cell.source, namespace)
        elif cell.source.startswith("def test_"):
            questions.append(cell.source.split("(", 1)[0].removeprefix("def test_"))
    for question in questions:
        test = create_test_file(str(EXERCISES / "tests" / f"{question}.py"), NBMetadataConfig())
        test.run(namespace)
        assert test.passed_all, test.summary()
    assert questions and capsys.readouterr().out.count("[PASS]") == len(questions)


def test_the_cli_writes_and_checks_the_copies_and_removes_orphans(tmp_path, capsys):
    solutions, out = tmp_path / "notebooks", tmp_path / "exercises"
    solutions.mkdir()
    shutil.copy(SOLUTIONS / "02_architecture.ipynb", solutions)
    shutil.copy(SOLUTIONS / "01_data.ipynb", solutions)
    with pytest.raises(SystemExit) as stopped:
        main(["exercises", "--notebooks", str(solutions), "--out", str(out), "--check"])
    assert stopped.value.code == 2
    assert "are out of date (02_architecture.ipynb, tests/gate.py)" in capsys.readouterr().err
    assert main(["exercises", "--notebooks", str(solutions), "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / "02_architecture.ipynb"), str(out / "tests" / "gate.py")]
    assert main(["exercises", "--notebooks", str(solutions), "--out", str(out), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
    shutil.copy(out / "02_architecture.ipynb", out / "05_old.ipynb")
    (out / "tests" / "old.py").write_text("")
    (out / "notes.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    assert stale_copies(solutions, out) == ["05_old.ipynb", "tests/old.py"]
    write_student_copies(solutions, out)
    assert sorted(path.name for path in out.glob("*.ipynb")) == ["02_architecture.ipynb", "notes.ipynb"]
    assert not (out / "tests" / "old.py").exists()


def test_a_notebook_without_an_assignment_configuration_has_no_copy():
    assert not any(cell.source.startswith(CONFIG_CELL) for cell in cells(SOLUTIONS, "01_data.ipynb", "raw"))
    assert not (EXERCISES / "01_data.ipynb").exists()


def test_the_cli_says_where_the_solutions_are_missing(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["exercises", "--notebooks", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert "no notebooks in" in capsys.readouterr().err
