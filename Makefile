# SonoBench: `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sonobench-installed
PYTEST_ARGS ?=
# Test processes: one per core (pytest-xdist); a test file stays on one process, so its
# module fixtures (a built wheel, a Ray cluster, a scored store) are built once.
PYTEST_WORKERS ?= auto

.PHONY: install demo test test-fast lint docs docs-check bench app clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py constraints.txt scripts/setup.sh
	bash scripts/setup.sh "$(VENV)"
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/sonobench demo

test: $(STAMP) lint docs-check
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The documentation site: generated reference pages must be current and the site must build
# in strict mode (broken links and missing pages fail).
docs-check: $(STAMP)
	$(PY) scripts/gen_docs.py --check
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

docs: $(STAMP)
	$(PY) scripts/gen_docs.py
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

app: $(STAMP)
	$(VENV)/bin/sonobench app

clean:
	rm -rf $(VENV) .pytest_cache .artifacts
