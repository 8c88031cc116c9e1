"""The committed notebooks' saved outputs: what a student sees on GitHub, without training residue
and without paths of the machine that executed them."""

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))
PROGRESS_BAR = re.compile(r"(\d+)%\||\d+%$")
"""A text bar ("42%|####") or a widget bar's label ("phase 3 epoch 1: 89%", tqdm's notebook bar)."""
ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/\\-])/(?:[\w.-]+/)+[\w.-]+|\b[A-Za-z]:\\[\w.-]")
"""A POSIX path of two or more parts after a leading slash (not a URL's, not a fraction), or a Windows drive."""


def texts(notebook):
    """(cell number, output type, text) of every stream, every text representation and every traceback, and
    (None, "widget", text) of every text a saved widget state holds (the notebook's metadata)."""
    for state in notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get(
            "state", {}).values():
        for key in ("value", "description"):
            if isinstance(state.get("state", {}).get(key), str):
                yield None, "widget", state["state"][key].replace("\u2007", " ").strip()
    for number, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            kind = output.get("name", output["output_type"])
            shown = [output.get("text", ""), output.get("traceback", [])]
            shown += [value for mime, value in output.get("data", {}).items() if mime.startswith("text/")]
            for text in shown:
                yield number, kind, "\n".join(text) if isinstance(text, list) else text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_saved_outputs_hold_no_progress_bars_and_no_warnings(path):
    notebook = nbformat.read(path, as_version=4)
    # any bar is residue: a bar saved before it moved shows as "0%" on GitHub, a full one says less
    # than the record line xmllib.course.live.ProgressBar leaves when its phase ends
    bars = [number if number is not None else "metadata" for number, _, text in texts(notebook)
            if PROGRESS_BAR.search(text)]
    warned = [number for number, kind, text in texts(notebook) if kind == "stderr" and "Warning" in text]
    assert not bars, f"{path.name}: progress-bar outputs in cells {bars}"
    assert not warned, f"{path.name}: warnings on stderr in cells {warned}"


def test_an_absolute_path_is_recognised_in_saved_text():
    found = ABSOLUTE_PATH.findall("line 146: /work/main/notebooks/cache/a.png is already on line 4; C:\\Users\\me; "
                                  "see https://github.com/xmllib/xmllib/blob/main/x, 1/255, cache/08/a.png")
    assert found == ["/work/main/notebooks/cache/a.png", "C:\\U"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_saved_outputs_hold_no_absolute_path_of_the_machine_that_ran_them(path):
    notebook = nbformat.read(path, as_version=4)
    found = [(number, path) for number, _, text in texts(notebook) for path in ABSOLUTE_PATH.findall(text)]
    assert not found, \
        f"{path.name}: absolute paths in saved outputs (print them relative to the working directory)"


def test_a_saved_widget_bar_is_found_in_the_metadata():
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {
        "a": {"model_name": "HTMLModel", "state": {"value": "phase\u20073\u2007epoch\u20071:\u2007\u200789%"}},
        "b": {"model_name": "HTMLModel", "state": {"value": "the weights of 89% of the pixels"}}}}}
    assert [text for _, kind, text in texts(notebook) if PROGRESS_BAR.search(text)] == ["phase 3 epoch 1:  89%"]
