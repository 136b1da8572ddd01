# The whole set-up on a fresh machine: `make demo` and `make test` create .venv,
# install torch (CPU build, pinned, first) and then simvec with its dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0

.PHONY: demo test lint install clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "simvec needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-run the install only when the project's requirements change.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `prepare` builds the model's int8 graph for this machine once (and says so), so the demo itself runs warm.
demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/simvec prepare
	HF_HUB_OFFLINE=1 $(BIN)/simvec demo

# The layer contracts and the lint run first: they take seconds and fail fast.
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

# The web console's browser tests drive Debian's chromium-headless-shell (installed once, a no-op after).
test: lint
	bash scripts/ensure-browser.sh
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q --durations=20

clean:
	rm -rf $(VENV) build src/*.egg-info
