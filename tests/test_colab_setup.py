"""The notebooks' Colab setup cell, run as on Colab: in a fresh virtual environment that already has
what Colab preinstalls (here: this environment's packages, xmllib left out), with google.colab
imported, it installs xmllib from the repository and changes nothing else; without google.colab
it installs nothing. GitHub is not reachable from the tests: git is told to read the repository's
address as a local copy of this working tree (url.<copy>.insteadOf), so the cell runs unchanged.
Takes about a minute (a virtual environment, a clone and a wheel build)."""

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tools.notebook_links import repository_url, setup_source

ROOT = Path(__file__).resolve().parent.parent
URL = repository_url(ROOT / "pyproject.toml")
RUN_CELL = """
import json, sys, types
if sys.argv[1] == "colab":
    sys.modules["google.colab"] = types.ModuleType("google.colab")  # what Colab's kernel has imported
from IPython.core.interactiveshell import InteractiveShell
InteractiveShell.instance().run_cell(json.load(open(sys.argv[2]))).raise_error()
"""
LISTED = ("import importlib.metadata as m, json; "
          "print(json.dumps(sorted((d.name, d.version) for d in m.distributions())))")


#: a ceiling against a hung install only; a command ends as soon as it is done (21 s here for the install)
HANG_SECONDS = 3600


def run(command: list[str], **kwargs) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=HANG_SECONDS, **kwargs)
    assert done.returncode == 0, f"{command[:3]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    """A git repository holding this working tree's files (tracked and new, not ignored), as GitHub would."""
    copy = tmp_path_factory.mktemp("github") / "xmllib"
    files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT).split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            (copy / name).write_bytes((ROOT / name).read_bytes())
    identity = ["-c", "user.name=test", "-c", "user.email=test@localhost"]
    run(["git", "init", "-q", "-b", "main"], cwd=copy)
    run(["git", "add", "-A"], cwd=copy)
    run(["git", *identity, "commit", "-q", "-m", "working tree"], cwd=copy)
    return copy


@pytest.fixture
def colab(tmp_path) -> Path:
    """A fresh virtual environment whose python sees this one's packages (pip too), not xmllib, as preinstalled."""
    preinstalled = tmp_path / "preinstalled"
    preinstalled.mkdir()
    ours = Path(site.getsitepackages()[0])
    for entry in ours.iterdir():
        if not entry.name.lower().startswith(("xmllib", "__editable__")):
            (preinstalled / entry.name).symlink_to(entry)
    run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")])
    python = tmp_path / "env" / "bin" / "python"
    own = Path(run([str(python), "-c", "import site; print(site.getsitepackages()[0])"]).strip())
    (own / "colab_preinstalled.pth").write_text(f"{preinstalled}\n")
    return python


def installed(python: Path, cwd: Path) -> set[tuple[str, str]]:
    """(name, version) of every distribution `python` sees from `cwd` (not the repository: it has an egg-info)."""
    return {tuple(pair) for pair in json.loads(run([str(python), "-c", LISTED], cwd=cwd))}


def run_setup_cell(python: Path, marker: str, repository: Path, tmp_path: Path) -> str:
    cell = tmp_path / "cell.json"
    cell.write_text(json.dumps(setup_source(URL)))
    environment = {**os.environ, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.{repository.as_uri()}.insteadOf",
                   "GIT_CONFIG_VALUE_0": URL, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return run([str(python), "-c", RUN_CELL, marker, str(cell)], cwd=tmp_path, env=environment)


def test_on_colab_the_setup_cell_installs_xmllib_and_nothing_else(colab, repository, tmp_path):
    before = installed(colab, tmp_path)
    assert "xmllib" not in dict(before)
    printed = run_setup_cell(colab, "colab", repository, tmp_path)
    assert f"Installing xmllib from {URL} with the packages it needs that Colab lacks" in printed
    after = installed(colab, tmp_path)
    assert sorted(after - before) == [("xmllib", "0.1.0")] and before <= after, "Colab's own packages are kept"
    where = run([str(colab), "-c", "import xmllib.course.widgets, xmllib; print(xmllib.__file__)"], cwd=tmp_path)
    assert Path(where.strip()).is_relative_to(colab.parent.parent), "installed into the environment, not the clone"


def test_elsewhere_the_setup_cell_does_nothing(colab, repository, tmp_path):
    before = installed(colab, tmp_path)
    assert "xmllib" not in dict(before)
    assert run_setup_cell(colab, "not colab", repository, tmp_path) == ""
    assert installed(colab, tmp_path) == before
