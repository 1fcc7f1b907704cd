# Two commands set everything up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# tcmalloc speeds up training about 1.7x here; used when the system has it.
TCMALLOC = $(firstword $(wildcard /usr/lib/*/libtcmalloc_minimal.so.4 /usr/lib/libtcmalloc_minimal.so.4))
RUN_ENV = $(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC),)

.PHONY: demo test lint install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: a loose spec pulls gigabytes of CUDA packages.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	# Best effort, never required: tcmalloc (faster training) when we may use apt-get.
	-@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! ls /usr/lib/*/libtcmalloc_minimal.so.4 >/dev/null 2>&1; then \
		apt-get install -y -qq libtcmalloc-minimal4 >/dev/null 2>&1 || echo "note: tcmalloc not installed (optional)"; fi
	touch $(STAMP)

demo: $(STAMP)
	$(RUN_ENV) $(VENV)/bin/crackscope demo --out demo-out

test: $(STAMP)
	$(PY) -m pytest -q

# The code gates CI runs before the tests (rules in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check crackscope tests benchmarks
	$(VENV)/bin/ruff format --check crackscope tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) demo-out .pytest_cache
