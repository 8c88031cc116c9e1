# The two commands of the README: `make demo` and `make test`.
# Both create .venv when it is missing and (re)install the package into it
# whenever pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
DATA := data/polygons
DEMO := runs/demo

.PHONY: demo test test-browser test-notebooks-standalone notebooks exercises links book venv clean

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e ".[dev]"
	touch $(INSTALLED)

# The demo evaluates AOPC on 8 test images, 16 steps and two patch sizes to stay within
# minutes on a CPU; the full evaluation is the same command without those three flags.
demo: $(INSTALLED)
	$(PY) -m xmllib data synthetic --out $(DATA) --n-train 1500 --n-val 300 --n-test 500
	$(PY) -m xmllib train --dataset $(DATA)/index.csv --preset tutorial --out $(DEMO)
	$(PY) -m xmllib evaluate $(DEMO)/model.pt --dataset $(DATA)/index.csv --out $(DEMO)/evaluation \
		--n-images 8 --steps 16 --patch-sizes 2 8

# The linter (ruff, configured in pyproject.toml), the unit tests, then every notebook in order (nbval, lax: cells must run; cells marked
# NBVAL_CHECK_OUTPUT must also reproduce their saved output), with the notebooks' training shrunk
# (XMLLIB_NOTEBOOK_SMOKE, see xmllib/course/tutorial.py): their checks do not depend on its size, and at full
# size the notebooks train as long as the demo. `make notebooks` runs them at full size.
test: $(INSTALLED)
	$(PY) -m ruff check
	$(PY) -m pytest --durations=15 tests
	XMLLIB_NOTEBOOK_SMOKE=1 $(PY) -m pytest --nbval-lax notebooks

# The live widgets in a real browser: JupyterLab and Debian's chromium (apt-get install -y chromium),
# started by the tests themselves (tests/browser/conftest.py).
test-browser: $(INSTALLED)
	$(PY) -m pytest -m browser tests/browser

# Each notebook on its own from an empty cache, as on Colab, with the training shrunk to a
# smoke test (XMLLIB_NOTEBOOK_SMOKE, see xmllib/course/tutorial.py) to fit CI's time.
test-notebooks-standalone: $(INSTALLED)
	for notebook in $(sort $(wildcard notebooks/[0-9]*.ipynb)); do \
		rm -rf notebooks/cache && \
		XMLLIB_NOTEBOOK_SMOKE=1 $(PY) -m pytest -q --nbval-lax $$notebook || exit 1; \
	done

# The committed notebooks re-executed in order from an empty cache, at full size, with their outputs saved
# (what a student sees on GitHub). The saved widget states are dropped first: a run that draws no widget
# would otherwise keep an earlier run's.
notebooks: $(INSTALLED)
	rm -rf notebooks/cache
	for notebook in $(sort $(wildcard notebooks/[0-9]*.ipynb)); do \
		$(PY) -c "import nbformat, sys; nb = nbformat.read(sys.argv[1], 4); nb.metadata.pop('widgets', None); nbformat.write(nb, sys.argv[1])" $$notebook && \
		(cd notebooks && ../$(PY) -m jupyter nbconvert --to notebook --execute --inplace $$(basename $$notebook)) || exit 1; \
	done

# The student copies of the notebooks and their tests (exercises/), made by otter-grader's `otter assign`
# from the solutions in notebooks/; the tests fail when the committed copies are out of date (docs/teachers.md).
exercises: $(INSTALLED)
	$(PY) -m xmllib exercises

# The notebooks' Colab and Binder badges and Colab setup cell, rewritten from pyproject.toml's
# [project.urls] Repository (tools/notebook_links.py), then the student copies that carry them.
links: $(INSTALLED)
	$(PY) -m tools.notebook_links
	$(PY) -m xmllib exercises

# The tutorial as a static website in _build/book (open _build/book/index.html): every numbered notebook
# with its saved outputs (nothing is executed) and the docs/ pages, with Colab and Binder launch buttons
# (book/conf.py). .github/workflows/book.yml publishes it on the repository's pages.
book: $(INSTALLED)
	$(PY) -m sphinx -b html -c book -q . _build/book

clean:
	rm -rf $(DEMO) $(DATA) _build
