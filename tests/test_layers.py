"""The package's floors (docs/design.md): which modules may import which, read from the source."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "xmllib"
#: the floor the notebooks stand on: nothing below them imports them
NOTEBOOK_MODULES = ("xmllib.tutorial", "xmllib.live", "xmllib.widgets", "xmllib.playground", "xmllib.diagrams")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every xmllib module `path` imports, at the top or inside a function; `from xmllib import x` counts x."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {module for module in found if module in modules and module != name}


IMPORTS = {module_name(path): imported_modules(path) for path in PACKAGE.rglob("*.py")}


def importers_of(prefixes: tuple[str, ...]) -> dict[str, set[str]]:
    """Modules outside `prefixes` that import a module inside them, with what they import."""
    def inside(module: str) -> bool:
        return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)

    return {module: {m for m in imported if inside(m)} for module, imported in IMPORTS.items()
            if not inside(module) and any(inside(m) for m in imported)}


def imports_of(module_prefix: str) -> set[str]:
    return {m for module, imported in IMPORTS.items()
            if module == module_prefix or module.startswith(module_prefix + ".") for m in imported}


def test_the_import_reader_sees_relative_and_function_level_imports():
    assert "xmllib.data.index" in IMPORTS["xmllib.data.dataset"]  # from .index import ...
    assert "xmllib.runs" in IMPORTS["xmllib.cli"]  # inside a function


@pytest.mark.parametrize("floor", ["xmllib.losses", "xmllib.models"])
def test_losses_and_models_import_nothing_of_the_package_but_each_other(floor):
    allowed = ("xmllib.losses", "xmllib.models")
    outside = {m for m in imports_of(floor) if not m.startswith(allowed)}
    assert not outside, f"{floor} imports {sorted(outside)}"


def test_training_imports_no_figures_or_widgets():
    forbidden = {m for m in imports_of("xmllib.training")
                 if m.startswith(("xmllib.plots", "xmllib.live", "xmllib.widgets", *NOTEBOOK_MODULES))}
    assert not forbidden, forbidden


def test_evaluation_never_imports_training():
    assert not {m for m in imports_of("xmllib.evaluation") if m.startswith(("xmllib.training", "xmllib.runs"))}


def test_nothing_imports_the_cli():
    assert importers_of(("xmllib.cli",)) == {"xmllib.__main__": {"xmllib.cli"}}


def test_the_notebook_modules_are_the_top_floor():
    assert not importers_of(NOTEBOOK_MODULES), "only the notebooks (and each other) may import " + ", ".join(
        NOTEBOOK_MODULES)
