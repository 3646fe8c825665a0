# The two commands a reader needs are `make book` and `make test`.
# Both create .venv on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-from-pyproject

NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

.PHONY: all book test lint lab clean help mutants

all: help

help:
	@echo "make book   execute every notebook in notebooks/ in order, outputs written in place"
	@echo "make test   ruff + the typeset equations + pytest (tests/, doctests in mnist_cnn/) + nbval (notebooks/)"
	@echo "make mutants  mutation testing: every wrong equation of the table must be caught"
	@echo "make lab    start JupyterLab on notebooks/"
	@echo "make clean  remove what the build made (not the data)"

# The install is keyed on pyproject.toml: touch it (or edit it) to force a reinstall.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

book: $(STAMP)
	$(BIN)/python -m mnist_cnn.book $(NOTEBOOKS)

lint: $(STAMP)
	$(BIN)/ruff check mnist_cnn tests notebooks

test: $(STAMP) lint
	$(BIN)/python -m mnist_cnn.equations check $(NOTEBOOKS)
	$(BIN)/python -m pytest tests mnist_cnn notebooks --doctest-modules \
		--nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg

# ~38 targeted wrong equations (mnist_cnn/verify/mutants.py), each run against the tests and,
# if they miss it, the chapters' checks; the last line is "killed K of N" (fails unless K = N).
mutants: $(STAMP)
	$(BIN)/python -m mnist_cnn.verify.mutants --workers 2

# Jupyter refuses to run as root unless told; containers and CI often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .ruff_cache runs
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
