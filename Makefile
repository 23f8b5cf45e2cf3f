# The README's two commands: `make demo` and `make test`. Each sets itself up
# from a fresh clone (a .venv with the project installed) before it runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast bench clean docs reference-venv

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# DataTrove 0.10.1 in its own venv (it caps trafilatura < 1.12): the filter parity tests
# (tests/parity) and benchmarks/filter_parity.py compare Winnow's filters with it.
REF_VENV ?= .bench/reference-venv
$(REF_VENV)/.installed: benchmarks/reference-requirements.txt
	$(PYTHON) -m venv $(REF_VENV)
	$(REF_VENV)/bin/python -m pip install --quiet -r benchmarks/reference-requirements.txt
	touch $@

reference-venv: $(REF_VENV)/.installed

demo: $(STAMP)
	$(BIN)/winnow run --output $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

# docs/recipes.md, generated from the configuration dataclasses (a test fails when it is stale).
docs: $(STAMP)
	$(BIN)/python -m winnow.cli.docs

clean:
	rm -rf $(DEMO_DIR) .pytest_cache build *.egg-info
