# The two commands of the README: `make demo` and `make test`.
# Both create .venv when it is missing and (re)install the package into it
# whenever pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
DATA := data/polygons
DEMO := runs/demo

.PHONY: demo test venv clean

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e ".[dev]"
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(PY) -m xmllib data synthetic --out $(DATA)
	$(PY) -m xmllib train --dataset $(DATA)/index.csv --preset tutorial --out $(DEMO)

test: $(INSTALLED)
	$(PY) -m pytest

clean:
	rm -rf $(DEMO) $(DATA)
