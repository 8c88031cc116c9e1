"""The student copies run from start to end with their stubs: only the checks say what is left to write.

Each copy runs in a fresh kernel as the grader runs it, with the training shrunk to a
smoke test (XMLLIB_NOTEBOOK_SMOKE) and a temporary cache shared by the four notebooks.
"""

import json
import re
from pathlib import Path

import nbformat
import pytest

from xmllib.exercises import CHECK_MIME_TYPE
from xmllib.exercises.grading import cell_errors, check_reports, execute_notebook
from xmllib.exercises.student_copies import METADATA_KEY
from xmllib.tutorial import SMOKE_VARIABLE

EXERCISES = Path(__file__).resolve().parent.parent / "exercises"
NAMES = ["02_architecture.ipynb", "03_losses.ipynb", "04_phase1_classifier.ipynb", "07_evaluation.ipynb"]
STUB = re.compile(r'raise NotImplementedError\((".*")\)')


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Each student copy, run once in order (04 trains phase 1, which 07 then loads)."""
    workdir = tmp_path_factory.mktemp("exercises")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SMOKE_VARIABLE, "1")
        return {name: execute_notebook(nbformat.read(EXERCISES / name, as_version=4), workdir, timeout=600)
                for name in NAMES}


def hints(notebook):
    """The hints of the notebook's stubs."""
    return [json.loads(match) for cell in notebook.cells if cell.cell_type == "code"
            for match in STUB.findall(cell.source)]


@pytest.mark.parametrize("name", NAMES)
def test_a_student_copy_runs_to_the_end_stopping_only_at_its_stubs(executed, name):
    execution = executed[name]
    notebook = execution.notebook
    assert (execution.status, execution.detail) == ("ran", "")
    stubs_errors = {f"NotImplementedError: {hint}" for hint in hints(notebook)}
    assert [error for error in cell_errors(notebook) if error.split(": ", 1)[1] not in stubs_errors] == []
    checks = notebook.metadata[METADATA_KEY]["checks"]
    assert check_reports(notebook) == {check: "missing" for check in checks}
    messages = [output.data[CHECK_MIME_TYPE]["message"] for cell in notebook.cells
                for output in cell.get("outputs", []) if CHECK_MIME_TYPE in output.get("data", {})]
    assert messages == [f"[NOT DONE] {check}: not written yet: {hint}" for check, hint in zip(checks, hints(notebook))]
    assert all(output.data["text/plain"] == output.data[CHECK_MIME_TYPE]["message"]
               for cell in notebook.cells for output in cell.get("outputs", [])
               if CHECK_MIME_TYPE in output.get("data", {}))

