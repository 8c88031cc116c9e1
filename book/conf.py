"""The tutorial as a static website (`make book`): Sphinx with MyST-NB and the book theme, offline.

The sources are the repository's own: every numbered notebook of notebooks/ with its saved
outputs (nothing is executed; widgets show the figures saved beside them) and the pages of
docs/. Each notebook page has Colab and Binder launch buttons, built from pyproject.toml's
Repository URL as the notebooks' own badges are (tools/notebook_links.py).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]

project = "xmllib: in-model explanations of CNNs"
author = "the xmllib authors"
extensions = ["myst_nb"]
root_doc = "book/index"
include_patterns = ["book/*.md", "notebooks/[0-9]*.ipynb", "docs/*.md", "docs/figures/*"]
exclude_patterns = ["**/.ipynb_checkpoints", "notebooks/cache/**"]
nb_execution_mode = "off"
nb_output_stderr = "remove"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "myst.xref_missing", "misc.highlighting_failure"]

html_theme = "sphinx_book_theme"
html_title = "xmllib"
#: the site's own index.html, which sends a visitor on to book/index.html
html_extra_path = ["extra"]
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "launch_buttons": {"colab_url": "https://colab.research.google.com",
                       "binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
}
