"""The package's floors (docs/design.md): which modules may import which, read from the source and from the
floor table of docs/design.md."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "xmllib"
#: the notebooks' own modules: nothing but the notebooks imports them
NOTEBOOK_MODULES = ("xmllib.course",)


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


def package_of(module: str) -> str:
    """The package a module belongs to: its top-level module or folder (xmllib.data.index -> xmllib.data)."""
    return ".".join(module.split(".")[:2])


def floor_table() -> dict[str, int]:
    """docs/design.md's floor table: every package named in a row's module column -> the row's floor."""
    floors = {}
    for line in (ROOT / "docs" / "design.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and cells[0].isdigit():
            floors.update({name: int(cells[0]) for name in re.findall(r"`(xmllib[\w.]*)`", cells[1])})
    return floors


FLOORS = floor_table()


def test_every_package_has_one_row_in_the_floor_table():
    packages = {package_of(module) for module in IMPORTS if module != "xmllib"}
    assert packages == set(FLOORS), (f"docs/design.md's floor table lacks {sorted(packages - set(FLOORS))} "
                                     f"and names {sorted(set(FLOORS) - packages)}, which do not exist")


def upward_imports(imports: dict[str, set[str]], floors: dict[str, int]) -> list[str]:
    """The imports of `imports` (module -> modules it imports) that do not go down a floor of `floors`."""
    return sorted(f"{module} (floor {floors[package_of(module)]}) imports {imported} "
                  f"(floor {floors[package_of(imported)]})"
                  for module, imported_modules in imports.items() if module != "xmllib"
                  for imported in imported_modules if imported != "xmllib"
                  and package_of(imported) != package_of(module)
                  and floors[package_of(imported)] >= floors[package_of(module)])


def test_imports_across_packages_go_down():
    upward = upward_imports(IMPORTS, FLOORS)
    assert not upward, "imports that do not go down a floor (docs/design.md):\n" + "\n".join(upward)


def test_the_floor_rule_refuses_an_import_sideways_or_up_and_allows_one_inside_a_package():
    floors = {"xmllib.low": 1, "xmllib.side": 1, "xmllib.high": 2}
    imports = {"xmllib.high.a": {"xmllib.low.b", "xmllib.high.c", "xmllib"}, "xmllib.low.b": {"xmllib.side"},
               "xmllib.side": {"xmllib.high.a"}}
    assert upward_imports(imports, floors) == ["xmllib.low.b (floor 1) imports xmllib.side (floor 1)",
                                               "xmllib.side (floor 1) imports xmllib.high.a (floor 2)"]


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
                 if m.startswith(("xmllib.plots", *NOTEBOOK_MODULES))}
    assert not forbidden, forbidden


def test_evaluation_never_imports_training():
    assert not {m for m in imports_of("xmllib.evaluation") if m.startswith(("xmllib.training", "xmllib.runs"))}


def test_nothing_imports_the_cli():
    assert importers_of(("xmllib.cli",)) == {"xmllib.__main__": {"xmllib.cli"}}


def test_the_notebook_modules_are_the_top_floor():
    assert not importers_of(NOTEBOOK_MODULES), "only the notebooks (and each other) may import " + ", ".join(
        NOTEBOOK_MODULES)
