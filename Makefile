# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# `make demo` installs what crackscope needs to run (torch, then crackscope and its dependencies); `make test` and
# `make lint` add the test and lint tools (the `dev` extra: pytest, ruff, mypy, playwright, torchcam, captum...)
# and the optional `onnx` and `ray` extras, so their code paths are tested too.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# tcmalloc speeds up training about 1.7x here; used when the system has it.
TCMALLOC = $(firstword $(wildcard /usr/lib/*/libtcmalloc_minimal.so.4 /usr/lib/libtcmalloc_minimal.so.4))
RUN_ENV = $(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC),)

.PHONY: demo test lint install install-dev bench clean

install: $(STAMP)

install-dev: $(DEV_STAMP)

$(STAMP): pyproject.toml
	@echo "==> Installing torch 2.13.0 and crackscope's dependencies into $(VENV) (about 2 minutes, once)"
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: a loose spec pulls gigabytes of CUDA packages.
	$(PY) -m pip install --progress-bar on torch==2.13.0
	$(PY) -m pip install --progress-bar on -e .
	# Best effort, never required: tcmalloc (faster training) when we may use apt-get.
	-@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! ls /usr/lib/*/libtcmalloc_minimal.so.4 >/dev/null 2>&1; then \
		apt-get install -y -qq libtcmalloc-minimal4 >/dev/null 2>&1 || echo "note: tcmalloc not installed (optional)"; fi
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	@echo "==> Installing the test and lint tools (pytest, ruff, mypy, playwright, torchcam, captum...) and the"
	@echo "    optional engines the tests exercise (onnx, onnxruntime, ray) into $(VENV)"
	$(PY) -m pip install --progress-bar on -e ".[dev,onnx,ray]"
	touch $(DEV_STAMP)

demo: $(STAMP)
	$(RUN_ENV) $(VENV)/bin/crackscope demo --out demo-out

test: $(DEV_STAMP)
	$(PY) -m pytest -q

# The code gates CI runs before the tests (rules in pyproject.toml).
lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check crackscope tests benchmarks
	$(VENV)/bin/ruff format --check crackscope tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) demo-out .pytest_cache
