"""The committed notebooks' saved outputs: what a student sees on GitHub, without training residue."""

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))
PROGRESS_BAR = re.compile(r"(\d+)%\|")


def texts(notebook):
    """(cell number, output type, text) of every stream and text/plain output."""
    for number, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            yield number, output.get("name", output["output_type"]), "".join(text) if isinstance(text, list) else text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_saved_outputs_hold_no_progress_bars_and_no_warnings(path):
    notebook = nbformat.read(path, as_version=4)
    # a finished bar (100%) is a record of the run (xmllib.live.ProgressBar keeps its last state);
    # any other is residue: a bar saved before it moved, which GitHub shows as "0%"
    bars = [number for number, _, text in texts(notebook)
            if any(done != "100" for done in PROGRESS_BAR.findall(text))]
    warned = [number for number, kind, text in texts(notebook) if kind == "stderr" and "Warning" in text]
    assert not bars, f"{path.name}: progress-bar outputs in cells {bars}"
    assert not warned, f"{path.name}: warnings on stderr in cells {warned}"
