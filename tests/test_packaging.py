"""environment.yml (conda, Binder) installs what pyproject.toml declares, no more, no less."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_environment_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    dev = [item for name in extras["dev"]  # an extra of xmllib itself, "xmllib[teach]", stands for its list
           for item in (extras[name[len("xmllib["):-1]] if name.startswith("xmllib[") else [name])]
    declared = project["dependencies"] + dev
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert sorted(p for p in pip if p != "-e .") == sorted(declared)
    assert "-e ." in pip
