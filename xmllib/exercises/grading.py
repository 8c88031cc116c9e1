"""The grader: run students' notebooks and tabulate which checks pass, one row per notebook.

Each notebook runs in a fresh kernel (nbclient), cell after cell and past cells that
raise, within a time limit for the whole notebook. The checks' reports are read from
its outputs (`CHECK_MIME_TYPE`). A notebook that cannot be read, runs too long or
kills its kernel still gets its row, saying why; the grader goes on to the next.

Running a notebook runs its code: grade submissions in a container or an account
that holds nothing else.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from xmllib.exercises import CHECK_MIME_TYPE, CHECKS, STATUSES
from xmllib.exercises.student_copies import METADATA_KEY, checks_called

RAN, TIMED_OUT, KERNEL_DIED, UNREADABLE, NOT_RUN = "ran", "timed out", "kernel died", "unreadable", "not run"
GRADE_COLUMNS = ["notebook", "status", "detail", "passed", "failed", "missing", "seconds", *CHECKS]
KERNEL = "python3"
"""The kernel every notebook runs in: IPython on the grader's own Python, whatever kernel the notebook names."""


@dataclass
class Execution:
    """A notebook after its run: its cells with their outputs, how the run ended, and how long it took."""

    notebook: NotebookNode
    status: str
    detail: str
    seconds: float


def read_notebook(path: str | Path) -> NotebookNode:
    """The notebook at `path`, or a ValueError saying why it is not one."""
    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # a missing file, not JSON, not a notebook: the grader reports them all alike
        reason = str(error).splitlines()[0] if str(error) else ""
        raise ValueError(f"not a readable notebook ({type(error).__name__}: {reason})") from None
    return notebook


def execute_notebook(notebook: NotebookNode, cwd: str | Path, timeout: float) -> Execution:
    """Run every cell of `notebook` (in place) in a fresh kernel started in `cwd`, `timeout` seconds in all.

    Cells that raise leave their error among their outputs and the run goes on. The time
    limit counts from the kernel's start to the end of the last cell.
    """
    client = NotebookClient(notebook, kernel_name=KERNEL, allow_errors=True, shutdown_kernel="immediate",
                            resources={"metadata": {"path": str(cwd)}})
    began = time.monotonic()
    status, detail, index = RAN, "", 0
    try:
        with client.setup_kernel():
            deadline = began + timeout
            for index, cell in enumerate(notebook.cells):
                client.timeout = max(1, math.ceil(deadline - time.monotonic()))
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
    except CellTimeoutError:
        status, detail = TIMED_OUT, f"stopped after {timeout:g} s, in cell {index}"
    except DeadKernelError:
        status, detail = KERNEL_DIED, f"the kernel died in cell {index}"
    return Execution(notebook, status, detail, time.monotonic() - began)


def cell_errors(notebook: NotebookNode) -> list[str]:
    """'cell N: Name: message' for every error among the outputs of the notebook's cells."""
    return [f"cell {index}: {output.ename}: {output.evalue}"
            for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for output in cell.get("outputs", []) if output.output_type == "error"]


def check_reports(notebook: NotebookNode) -> dict[str, str]:
    """The status each check reported in the notebook's outputs, by check name (the last report counts)."""
    reports = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            report = output.get("data", {}).get(CHECK_MIME_TYPE)
            if isinstance(report, dict) and report.get("check") in CHECKS and report.get("status") in STATUSES:
                reports[report["check"]] = report["status"]
    return reports


def expected_checks(notebook: NotebookNode) -> list[str]:
    """The checks a notebook should report: those its metadata lists (student copies), else those it calls."""
    listed = notebook.metadata.get(METADATA_KEY, {}).get("checks")
    return [name for name in listed if name in CHECKS] if isinstance(listed, list) else checks_called(notebook)


def grade_notebook(path: str | Path, timeout: float, workdir: str | Path | None = None) -> dict[str, object]:
    """One row of GRADE_COLUMNS for the notebook at `path`, run in `workdir` (default: the notebook's folder).

    Each check the notebook should report is "pass", "fail" or "missing" (not written, or
    never reached); checks it does not hold are left empty.
    """
    path = Path(path)
    row: dict[str, object] = {"notebook": str(path), "detail": "", "seconds": 0.0}
    try:
        notebook = read_notebook(path)
    except ValueError as error:
        return {**row, "status": UNREADABLE, "detail": str(error), "passed": 0, "failed": 0, "missing": 0}
    expected = expected_checks(notebook)
    try:
        execution = execute_notebook(notebook, workdir or path.resolve().parent, timeout)
        row.update(status=execution.status, detail=execution.detail, seconds=round(execution.seconds, 1))
    except Exception as error:  # a kernel that does not start, and the like: the row says so, the grader goes on
        row.update(status=NOT_RUN, detail=f"{type(error).__name__}: {error}")
    errors = cell_errors(notebook)
    if errors:
        row["detail"] = "; ".join(filter(None, [str(row["detail"]), f"{len(errors)} cell(s) raised, first {errors[0]}"]))
    reports = check_reports(notebook)
    statuses = {name: reports.get(name, "missing") for name in dict.fromkeys([*expected, *reports])}
    counts = {status: sum(value == status for value in statuses.values()) for status in STATUSES}
    return {**row, "passed": counts["pass"], "failed": counts["fail"], "missing": counts["missing"],
            **{name: statuses.get(name, "") for name in CHECKS}}


def grade(paths: Iterable[str | Path], out: str | Path, timeout: float = 600.0, workdir: str | Path | None = None,
          log: Callable[[str], object] = print) -> pd.DataFrame:
    """Grade each notebook and write the table to the CSV `out` (rewritten after every notebook); returns it."""
    rows = []
    for path in paths:
        log(f"grading {path}")
        rows.append(grade_notebook(path, timeout, workdir))
        table = pd.DataFrame(rows, columns=GRADE_COLUMNS)
        table.to_csv(out, index=False)
        last = rows[-1]
        log(f"  {last['status']}: {last['passed']} passed, {last['failed']} failed, {last['missing']} missing"
            + (f" ({last['detail']})" if last["detail"] else ""))
    return pd.DataFrame(rows, columns=GRADE_COLUMNS)
