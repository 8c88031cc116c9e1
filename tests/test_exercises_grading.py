"""The grader: a row per notebook, whether it passes, fails, raises, is not a notebook or runs too long."""

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from xmllib.cli import main
from xmllib.exercises import CHECKS
from xmllib.exercises.grading import GRADE_COLUMNS, check_reports, expected_checks, grade
from xmllib.exercises.student_copies import METADATA_KEY

AOPC = "def aopc(curves):\n    return (curves[:, :1] - curves).mean(dim=0).cumsum(dim=0) / torch.arange(1, curves.shape[1] + 1)"
AOPC_WRONG = "def aopc(curves):\n    return (curves[:, :1] - curves).mean(dim=0).cumsum(dim=0)"
POMPOM = ("def pompom(heatmaps, masks, eps=1e-6):\n    outside = 1 - masks\n"
          "    return ((outside * heatmaps) > eps).sum(dim=(1, 2, 3)) / ((outside > eps).sum(dim=(1, 2, 3)) + eps)")
POMPOM_STUB = "def pompom(heatmaps, masks, eps=1e-6):\n    raise NotImplementedError(\"count the pixels outside\")"


def submission(folder, name, *cells, checks=("morf_curve", "aopc", "pompom")):
    """A small student notebook: the imports, then `cells`, with the metadata of a student copy."""
    notebook = new_notebook(cells=[new_code_cell("import torch\nfrom xmllib.exercises import check_aopc, check_pompom"),
                                   *(new_code_cell(source) for source in cells)])
    notebook.metadata[METADATA_KEY] = {"solution": "notebooks/07_evaluation.ipynb", "checks": list(checks)}
    path = folder / name
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The grader's table (through the CLI) for a correct submission, a wrong one that raises, and a broken one."""
    folder = tmp_path_factory.mktemp("submissions")
    paths = [
        submission(folder, "alice.ipynb", AOPC, "check_aopc(aopc)", POMPOM, "check_pompom(pompom)"),
        submission(folder, "bob.ipynb", AOPC_WRONG, "check_aopc(aopc)", "1 / 0", POMPOM_STUB, "check_pompom(pompom)"),
        folder / "carol.ipynb",
    ]
    paths[-1].write_text("{ this is not a notebook")
    out = folder / "grades.csv"
    assert main(["grade", *map(str, paths), "--out", str(out), "--timeout", "120"]) == 0
    return pd.read_csv(out, keep_default_na=False).set_index("notebook"), folder


def row(graded, name):
    table, folder = graded
    return table.loc[str(folder / name)]


def test_the_table_has_a_row_per_notebook_and_a_column_per_check(graded):
    table, _ = graded
    assert list(table.reset_index().columns) == GRADE_COLUMNS
    assert [name.rsplit("/", 1)[1] for name in table.index] == ["alice.ipynb", "bob.ipynb", "carol.ipynb"]


def test_a_correct_submission_passes_its_checks(graded):
    alice = row(graded, "alice.ipynb")
    assert (alice.status, alice.detail) == ("ran", "")
    assert (alice.aopc, alice.pompom, alice.morf_curve) == ("pass", "pass", "missing")
    assert (alice.passed, alice.failed, alice.missing) == (2, 0, 1)
    assert all(alice[name] == "" for name in CHECKS if name not in ("aopc", "pompom", "morf_curve"))


def test_a_wrong_submission_fails_a_stub_is_missing_and_a_cell_that_raises_does_not_stop_it(graded):
    bob = row(graded, "bob.ipynb")
    assert (bob.status, bob.aopc, bob.pompom) == ("ran", "fail", "missing")
    assert (bob.passed, bob.failed, bob.missing) == (0, 1, 2)
    assert bob.detail == "1 cell(s) raised, first cell 3: ZeroDivisionError: division by zero"


def test_a_file_that_is_not_a_notebook_gets_a_row_saying_so(graded):
    carol = row(graded, "carol.ipynb")
    assert carol.status == "unreadable" and carol.detail.startswith("not a readable notebook (NotJSONError")
    assert (carol.passed, carol.failed, carol.missing) == (0, 0, 0)


def test_a_slow_notebook_is_stopped_and_graded_on_what_it_reported(tmp_path):
    slow = submission(tmp_path, "slow.ipynb", AOPC, "check_aopc(aopc)", "import time\ntime.sleep(600)")
    lines = []
    table = grade([slow], tmp_path / "grades.csv", timeout=10, log=lines.append)
    assert table.loc[0, "status"] == "timed out" and table.loc[0, "detail"].startswith("stopped after 10 s, in cell")
    assert table.loc[0, "seconds"] < 60
    assert lines[0] == f"grading {slow}" and lines[1].startswith("  timed out:")
    assert (tmp_path / "grades.csv").is_file()


def test_the_checks_a_notebook_should_report_come_from_its_metadata_or_its_calls():
    notebook = new_notebook(cells=[new_code_cell("check_gate(apply_gate)\ncheck_unknown(f)")])
    assert expected_checks(notebook) == ["gate"]
    notebook.metadata[METADATA_KEY] = {"checks": ["freeze", "not a check"]}
    assert expected_checks(notebook) == ["freeze"]


def test_only_well_formed_reports_count():
    from xmllib.exercises import CHECK_MIME_TYPE

    cell = new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", {CHECK_MIME_TYPE: report}) for report in (
        {"check": "gate", "status": "fail"}, {"check": "gate", "status": "pass"},
        {"check": "gate", "status": "great"}, {"check": "who", "status": "pass"}, "text")]
    assert check_reports(new_notebook(cells=[cell])) == {"gate": "pass"}
