# SonoBench: `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sonobench-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench app clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	bash scripts/setup.sh "$(VENV)"
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/sonobench demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

app: $(STAMP)
	$(VENV)/bin/sonobench app

clean:
	rm -rf $(VENV) .pytest_cache .artifacts
