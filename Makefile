# make demo / make test do all set-up on a fresh machine, then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint docs install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first (the CPU wheel on this machine's disk), then the package with its test and
# docs extras
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test,docs]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --quiet -d build/site

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mkdocs build --strict --quiet -d build/site
	$(PY) -m pytest -q --doctest-modules skmatch tests

# the edit-test loop (under 3 minutes on 2 cores): no real data, no example scripts, no
# torchrun, no slow tests; `make test` stays the whole suite
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not realdata and not examples and not torchrun and not slow" tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
