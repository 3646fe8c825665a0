# A reader needs `make lab` (read and run the chapters) and `make site` (the HTML book);
# a maintainer `make book` (re-execute the notebooks in place) and `make test` (what CI runs).
# All create .venv on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-from-pyproject

NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

.PHONY: all book site test lint lab clean help

all: help

help:
	@echo "make lab    start JupyterLab on notebooks/ (start with 00_notation_and_data.ipynb)"
	@echo "make site   build the HTML book from the stored notebooks: build/site/index.html"
	@echo "make book   RE-EXECUTE every notebook in notebooks/ in order, outputs written in place"
	@echo "make test   ruff + actionlint + the typeset equations + the site + pytest (tests/ with"
	@echo "            the browser tests, doctests in mnist_cnn/) + nbval (notebooks/)"
	@echo "make clean  remove what the build made (not the data)"

# The install is keyed on pyproject.toml: touch it (or edit it) to force a reinstall.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

book: $(STAMP)
	$(BIN)/python -m mnist_cnn.book $(NOTEBOOKS)

# Renders the notebooks as stored (nothing is executed): a few seconds.
site: $(STAMP)
	$(BIN)/python docs/build.py --out build/site

lint: $(STAMP)
	$(BIN)/ruff check mnist_cnn tests notebooks docs
	$(BIN)/actionlint .github/workflows/*.yml

# `site` first: the browser tests in tests/browser open build/site.
test: $(STAMP) lint site
	$(BIN)/python -m mnist_cnn.equations check $(NOTEBOOKS)
	$(BIN)/python -m pytest tests mnist_cnn notebooks --doctest-modules \
		--nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg

# Jupyter refuses to run as root unless told; containers and CI often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .ruff_cache runs
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
