"""The tutorial's website (`make book`) in a real browser: its index leads to every notebook, and a notebook
page shows the figures the notebook saved and a button that opens it on Colab."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9]*.ipynb"))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The book built as `make book` builds it, into a temporary folder."""
    out = tmp_path_factory.mktemp("book")
    subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-c", "book", "-q", ".", str(out)], cwd=ROOT,
                   check=True)
    return out


def saved_figures(name: str) -> int:
    """How many PNG figures the committed notebook `name` saved among its outputs."""
    notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs)


def test_the_site_index_leads_to_every_notebook(page: Page, site: Path):
    page.goto(site.joinpath("index.html").as_uri())
    expect(page).to_have_url(site.joinpath("book", "index.html").as_uri())
    chapters = page.locator("nav.bd-docs-nav a.reference.internal[href*='notebooks/']")
    # The redirect changes the URL before the book's page is parsed: wait for its links, then read them.
    expect(chapters).to_have_count(len(NOTEBOOKS))
    hrefs = [chapters.nth(i).get_attribute("href") for i in range(chapters.count())]
    assert hrefs == [f"../notebooks/{name}.html" for name in NOTEBOOKS]


def test_a_notebook_page_shows_its_saved_figures_and_opens_on_colab(page: Page, site: Path):
    name = "07_evaluation"
    page.goto(site.joinpath("notebooks", f"{name}.html").as_uri())
    figures = page.locator(".cell_output img")
    expect(figures.first).to_be_visible()
    assert figures.count() == saved_figures(name) > 0
    widths = figures.evaluate_all("images => images.map(image => image.complete ? image.naturalWidth : 0)")
    assert all(width > 0 for width in widths), "a figure did not load"
    colab = page.locator("a[href^='https://colab.research.google.com/github/']").first
    assert colab.get_attribute("href").endswith(f"/blob/main/notebooks/{name}.ipynb")
