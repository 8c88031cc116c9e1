"""Colab and Binder: every badge and install cell names the repository of pyproject.toml's [project.urls]."""

import re
from pathlib import Path

import nbformat
import pytest

from tools.notebook_links import (
    SETUP_MARKER,
    badges,
    github_name,
    linked,
    repository_url,
    setup_source,
    stale_notebooks,
)

ROOT = Path(__file__).resolve().parent.parent
URL = repository_url(ROOT / "pyproject.toml")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
LINK = re.compile(r"(?:github\.com|colab\.research\.google\.com/github|mybinder\.org/v2/gh)/"
                  r"([\w.-]+/[\w.-]+?)(?=[/?)\s\"\\]|\.git|$)")
"""A link to a GitHub repository, directly, through Colab or through Binder; group 1 is its owner/name."""


def code(path: Path) -> str:
    return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")


def test_every_notebook_has_the_badges_and_setup_cell_of_the_repository_url():
    assert stale_notebooks(ROOT / "notebooks", URL) == [], "run `make links`"
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        assert badges(URL, f"notebooks/{path.name}") in notebook.cells[0].source
        assert notebook.cells[1].source == setup_source(URL), f"{path.name}: the setup cell comes first"


def test_no_link_names_another_repository():
    texts = [ROOT / "README.md", ROOT / "data" / "README.md", *(ROOT / "docs").glob("*.md"), *NOTEBOOKS,
             *(ROOT / "exercises").glob("*.ipynb")]
    named = {(path.relative_to(ROOT).as_posix(), name) for path in texts
             for name in LINK.findall(path.read_text(encoding="utf-8"))}
    assert {path for path, name in named if name != github_name(URL)} == set()
    assert {path for path, _ in named} >= {"README.md", *(f"notebooks/{path.name}" for path in NOTEBOOKS)}


def test_readme_opens_every_notebook_on_colab_and_the_folder_on_binder():
    readme = (ROOT / "README.md").read_text()
    name = github_name(URL)
    for path in NOTEBOOKS:
        assert f"https://colab.research.google.com/github/{name}/blob/main/notebooks/{path.name})" in readme
    assert f"https://mybinder.org/v2/gh/{name}/main?labpath=notebooks)" in readme


def test_every_notebook_but_08_has_the_paper_scale_switch_as_the_readme_says():
    assert [path.name for path in NOTEBOOKS if "PAPER_SCALE = False" not in code(path)] == ["08_your_own_data.ipynb"]
    readme = (ROOT / "README.md").read_text()
    assert "`PAPER_SCALE = True`" in readme and "08 has none" in readme


def test_publishing_under_another_name_rewrites_the_badges_and_the_setup_cell():
    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    moved = linked(notebook, "https://github.com/someone/fork", "notebooks/00_introduction.ipynb")
    assert len(moved.cells) == len(notebook.cells)
    text = nbformat.writes(moved)
    assert set(LINK.findall(text)) == {"someone/fork"}
    assert "blob/main/notebooks/00_introduction.ipynb" in text and "labpath=notebooks%2F00_introduction.ipynb" in text
    assert moved.cells[1].source.count('"https://github.com/someone/fork"') == 1


def test_a_notebook_without_badges_or_setup_cell_gets_both_after_its_title():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 9. New\n\nText."),
                                               nbformat.v4.new_code_cell("import xmllib")])
    done = linked(notebook, URL, "notebooks/09_new.ipynb")
    assert done.cells[0].source == f"# 9. New\n\n{badges(URL, 'notebooks/09_new.ipynb')}\n\nText."
    assert done.cells[1].source.startswith(SETUP_MARKER) and done.cells[2].source == "import xmllib"
    assert linked(done, URL, "notebooks/09_new.ipynb") == done, "a linked notebook stays as it is"
    with pytest.raises(ValueError, match="must be the notebook's markdown title"):
        linked(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), URL, "notebooks/x.ipynb")


@pytest.mark.parametrize("url", ["https://gitlab.com/a/b", "git@github.com:a/b.git", "https://github.com/a"])
def test_colab_and_binder_need_a_github_https_address(url):
    with pytest.raises(ValueError, match="must be https://github.com/OWNER/NAME"):
        setup_source(url)
