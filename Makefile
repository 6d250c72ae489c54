# Two commands do everything on a fresh clone: `make compare` and `make test`.
# Each creates .venv on first use and installs the pinned frameworks from pyproject.toml.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install; pyproject.toml changes trigger a reinstall.
INSTALLED := $(VENV)/.installed
OUT ?= results

.PHONY: venv compare check baseline matrix calibrate test lint format clean

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# -qq prints errors only; the registries' mirrors otherwise warn about every package.
	$(BIN)/python -m pip install -qq -e ".[frameworks,test]"
	touch $(INSTALLED)

compare: $(INSTALLED)
	$(BIN)/init-harness run suites/default.toml --out $(OUT)

# The regression gate: run the default suite, then compare it with the committed baseline.
check: compare
	$(BIN)/init-harness check $(OUT) --baseline results/baseline

# Rewrite the committed baseline from the latest default run, on purpose.
baseline: $(INSTALLED)
	$(BIN)/init-harness check $(OUT) --baseline results/baseline --update-baseline

# The fan audit: every layer type and variance-scaling initializer, every side against torch.
matrix: $(INSTALLED)
	$(BIN)/init-harness run suites/matrix.toml --out results/matrix

# Measures false-alarm rates and power; writes results/calibration.json and docs/calibration.md.
calibrate: $(INSTALLED)
	$(BIN)/python -m benchmarks.calibrate

test: $(INSTALLED)
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
