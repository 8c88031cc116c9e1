"""What each install brings: the runtime dependencies are what the package and the notebooks import,
the extras hold the rest, and environment.yml (Binder) is pyproject.toml's runtime plus [lab]."""

import ast
import functools
import importlib.metadata
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

from xmllib.cli import TEACH_TOOLS, main

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]
TEACHING_MODULES = {"xmllib/exercises/student_copies.py", "xmllib/exercises/grading.py"}
"""Modules that read, write or run notebooks, imported only by the classroom commands (xmllib.cli.teaching_module)
and by `make links`: they need the [teach] extra."""
CONDA_NAMES = {"pytorch-cpu": "torch"}


def name(requirement: str) -> str:
    """The distribution a requirement names, normalised ("scikit-learn>=1" -> "scikit-learn")."""
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def closure(names: set[str]) -> set[str]:
    """`names` and every distribution they require on this platform (extras' requirements left out)."""
    found, todo = set(), list(names)
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        for text in importlib.metadata.requires(current) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(name(requirement.name))
    return found


def imported_modules(source: str, nodes: Callable[[ast.Module], Iterable[ast.AST]]) -> set[str]:
    """The top-level names of the modules imported by the `nodes` of a source (relative imports left out)."""
    modules = set()
    for node in nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def module_imports(path: Path) -> set[str]:
    """What a module imports when it is imported: its top-level statements (imports inside functions are lazy)."""
    return imported_modules(path.read_text(), lambda tree: tree.body)


def notebook_imports(path: Path) -> set[str]:
    """What a notebook's code cells import, anywhere (IPython's magics and shell lines read as `pass`)."""
    modules = set()
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            lines = "".join(cell["source"]).splitlines()
            python = [re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in lines]
            modules |= imported_modules("\n".join(python), ast.walk)
    return modules


@functools.cache
def providers() -> Mapping[str, list[str]]:
    """Which installed distributions provide each top-level module."""
    return importlib.metadata.packages_distributions()


def not_provided(modules: set[str], allowed: set[str]) -> set[str]:
    """The modules (standard library and xmllib aside) that no distribution of `allowed` provides."""
    outside = modules - set(sys.stdlib_module_names) - {"xmllib", "__future__"}
    missing = {module for module in outside if module not in providers()}
    assert not missing, f"modules provided by no installed distribution: {missing}"
    return {module for module in outside if allowed.isdisjoint(name(dist) for dist in providers()[module])}


def test_the_package_and_the_notebooks_import_only_runtime_dependencies():
    runtime = closure({name(r) for r in PROJECT["dependencies"]})
    imports = {str(path.relative_to(ROOT)): module_imports(path) for path in (ROOT / "xmllib").rglob("*.py")}
    imports |= {str(path.relative_to(ROOT)): notebook_imports(path) for path in (ROOT / "notebooks").glob("*.ipynb")}
    outside = {path: not_provided(modules, runtime) for path, modules in imports.items()
               if path not in TEACHING_MODULES}
    assert {path: modules for path, modules in outside.items() if modules} == {}
    teaching = set().union(*(imports[path] for path in TEACHING_MODULES))
    assert not_provided(teaching, runtime) <= set(TEACH_TOOLS)
    teach = {name(r) for r in EXTRAS["teach"]}
    for tool in TEACH_TOOLS:  # each tool the classroom commands look for comes with the [teach] extra
        assert teach & {name(dist) for dist in providers()[tool]}, tool


def test_no_jupyter_server_or_test_tool_is_a_runtime_dependency():
    runtime = {name(r) for r in PROJECT["dependencies"]}
    assert runtime.isdisjoint({"jupyterlab", "notebook", "nbclient", "nbformat", "pytest", "nbval", "quantus",
                               "playwright", "sphinx", "myst-nb", "sphinx-book-theme"})
    assert {name(r) for r in EXTRAS["lab"]} == {"jupyterlab"}
    assert {name(r) for r in EXTRAS["book"]} == {"sphinx", "myst-nb", "sphinx-book-theme"}
    assert "xmllib[lab,teach,book]" in EXTRAS["dev"], "make venv installs what the tests (and make book) need"
    assert {"pytest", "nbval", "quantus", "playwright"} <= {name(r) for r in EXTRAS["dev"]}


def test_a_classroom_command_without_the_teach_extra_names_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "nbformat", None)  # what an install without [teach] sees
    monkeypatch.delitem(sys.modules, "xmllib.exercises.student_copies", raising=False)
    with pytest.raises(SystemExit) as stopped:
        main(["exercises", "--notebooks", str(tmp_path), "--out", str(tmp_path / "out")])
    assert stopped.value.code == 2
    assert "needs nbformat, which the [teach] extra installs: pip install 'xmllib[teach]'" in capsys.readouterr().err


def test_environment_is_the_runtime_dependencies_and_the_lab_extra():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [item for item in environment["dependencies"] if isinstance(item, str)]
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    packages = [re.sub(r"^[\w-]+", lambda m: CONDA_NAMES.get(m[0], m[0]), spec) for spec in conda
                if name(spec) not in ("python", "pip")] + pip
    assert sorted(packages) == sorted(PROJECT["dependencies"] + EXTRAS["lab"])
    assert "pytorch-cpu>=2.1" in conda, "Binder has no GPU: PyTorch's CPU-only build"
    assert "python -m pip install --no-deps -e ." in (ROOT / "postBuild").read_text()
