"""The notebooks' Colab and Binder badges and their Colab setup cell, generated from one URL.

The repository's address lives in one place, `[project.urls] Repository` in
pyproject.toml. Each notebook of notebooks/ opens with its title, a line of two badges
(Colab and Binder, pointing at the notebook itself on the main branch) and, as its first
code cell, the setup cell of `setup_source`: on Colab it installs the package from that
repository with the dependencies Colab lacks, elsewhere it does nothing. Publishing
under another name is one line of pyproject.toml and `make links`, which rewrites both
here (`write_links`) and then the student copies; a test fails while any notebook is
out of date (`stale_notebooks`).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import tomllib
from nbformat import NotebookNode

from xmllib.exercises.student_copies import SOLUTIONS_DIR, notebook_text

BRANCH = "main"
SETUP_MARKER = "# Colab setup"
SETUP_CELL_ID = "colab-setup"
GITHUB = re.compile(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?")


def repository_url(pyproject: str | Path = "pyproject.toml") -> str:
    """`[project.urls] Repository` of a pyproject.toml: a GitHub repository's https address."""
    url = tomllib.loads(Path(pyproject).read_text())["project"]["urls"]["Repository"]
    github_name(url)
    return url


def github_name(url: str) -> str:
    """"owner/name" of a GitHub repository's https address; ValueError for another address."""
    match = GITHUB.fullmatch(url)
    if match is None:
        raise ValueError(f"the repository must be https://github.com/OWNER/NAME (Colab and Binder open it), got {url}")
    return match[1]


def badges(url: str, path: str) -> str:
    """The Colab and Binder badges of the notebook at `path` (relative to the repository's root)."""
    name = github_name(url)
    colab = f"https://colab.research.google.com/github/{name}/blob/{BRANCH}/{path}"
    binder = f"https://mybinder.org/v2/gh/{name}/{BRANCH}?labpath={path.replace('/', '%2F')}"
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
            f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder})")


def setup_source(url: str) -> str:
    """The setup cell: on Colab (google.colab is imported), pip installs the package from `url`; elsewhere nothing."""
    github_name(url)
    return f'''{SETUP_MARKER}: on Colab only, install xmllib from its repository with the packages it needs that
# Colab lacks (albumentations, captum); Colab's own PyTorch and Jupyter are kept. Elsewhere
# (a clone with `make venv`, Binder) this cell does nothing.
import sys

if "google.colab" in sys.modules:
    REPOSITORY = "{url}"
    print(f"Installing xmllib from {{REPOSITORY}} with the packages it needs that Colab lacks")
    %pip install -q "xmllib @ git+{{REPOSITORY}}"'''


def linked(notebook: NotebookNode, url: str, path: str) -> NotebookNode:
    """A copy of `notebook` (at `path`) with its badge line and its setup cell as `url` makes them.

    The badge line is the title cell's line holding the Colab badge, or a new line after the
    title; the setup cell is the code cell that starts with SETUP_MARKER, or a new one after
    the title cell.
    """
    notebook = copy.deepcopy(notebook)
    title = notebook.cells[0]
    if title.cell_type != "markdown" or not title.source.startswith("# "):
        raise ValueError(f"{path}: the first cell must be the notebook's markdown title")
    lines = title.source.split("\n")
    badge = next((k for k, line in enumerate(lines) if "colab-badge.svg" in line), None)
    if badge is None:
        lines[1:1] = ["", badges(url, path)]
    else:
        lines[badge] = badges(url, path)
    title.source = "\n".join(lines)
    setup = next((cell for cell in notebook.cells if cell.cell_type == "code"
                  and cell.source.startswith(SETUP_MARKER)), None)
    if setup is None:
        setup = nbformat.v4.new_code_cell()
        setup.id = SETUP_CELL_ID
        notebook.cells.insert(1, setup)
    setup.source = setup_source(url)
    return notebook


def _linked_texts(folder: str | Path, url: str) -> dict[Path, str]:
    """Each numbered notebook of `folder` as its file would hold it with `linked`'s badges and setup cell."""
    paths = sorted(Path(folder).glob("[0-9]*.ipynb"))
    if not paths:
        raise ValueError(f"no numbered notebooks in {folder}")
    return {path: notebook_text(linked(nbformat.read(path, as_version=4), url, f"{Path(folder).name}/{path.name}"))
            for path in paths}


def stale_notebooks(folder: str | Path, url: str) -> list[str]:
    """The names of the notebooks in `folder` whose badges or setup cell differ from what `url` makes."""
    return [path.name for path, text in _linked_texts(folder, url).items()
            if path.read_text(encoding="utf-8") != text]


def write_links(folder: str | Path, url: str) -> list[Path]:
    """Rewrite the badges and setup cell of the notebooks in `folder` that are out of date; return them."""
    written = []
    for path, text in _linked_texts(folder, url).items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":
    for changed in write_links(SOLUTIONS_DIR, repository_url()):
        print(changed)
