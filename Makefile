# A reader needs `make lab` (read and run the chapters) and `make site` (the HTML book);
# a maintainer `make book` (re-execute the notebooks in place) and `make test` (what CI runs).
# All create .venv on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-from-pyproject

NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

WALKTHROUGH := build/walkthrough
LECTURES := build/lectures
STUDENT := build/student
PDF     := build/pdf/mnist-cnn.pdf
HANDOUT := build/handout

.PHONY: all book site test lint lab clean help walkthrough lectures student handout tag-notebooks mutants pdf

all: help

help:
	@echo "make lab      start JupyterLab on notebooks/ (start with 00_notation_and_data.ipynb;"
	@echo "              live slides: Alt+R, jupyterlab-rise)"
	@echo "make site     build the HTML book from the stored notebooks: build/site/index.html"
	@echo "make pdf      the whole book as one PDF (Chromium's print engine): $(PDF)"
	@echo "make lectures one 50-minute lecture deck per chapter 01-06 in $(LECTURES)/ (offline)"
	@echo "make walkthrough  each notebook paged as reveal.js slides in $(WALKTHROUGH)/ (not a lecture)"
	@echo "make student  the student edition (no solutions, checked answers) in $(STUDENT)/"
	@echo "make handout  what students receive: $(HANDOUT)/ and $(HANDOUT).zip (student edition,"
	@echo "              data, the package without the answer key); grade what comes back with"
	@echo "              python -m mnist_cnn.book grade DIR --out grades.csv"
	@echo "make book     RE-EXECUTE every notebook in notebooks/ in order, outputs written in place"
	@echo "make test     ruff + actionlint + the typeset equations + site, lectures, walkthrough, student +"
	@echo "              pytest (tests/ with the browser tests; doctests in mnist_cnn/) + nbval"
	@echo "make mutants  mutation testing: every wrong equation of the table must be caught"
	@echo "make clean  remove what the build made (not the data)"

# The install is keyed on pyproject.toml: touch it (or edit it) to force a reinstall.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# The slide metadata packs cells by the height of their outputs: re-tag after executing.
book: $(STAMP)
	$(BIN)/python -m mnist_cnn.book $(NOTEBOOKS)
	$(BIN)/python -m mnist_cnn.book.slides tag $(NOTEBOOKS)

# Renders the notebooks as stored (nothing is executed): a few seconds. The pages offer the
# PDF for download when `make pdf` has made it (make test builds the PDF first).
site: $(STAMP)
	$(BIN)/python docs/build.py --out build/site

# The print edition from the stored notebooks: Sphinx (one page) -> Chromium's print engine.
pdf: $(STAMP)
	$(BIN)/python -m mnist_cnn.book.pdf --out $(PDF) $(PDF_FLAGS)

# A walk through the notebook, cell by cell, as slides (RISE's metadata): for reading, not teaching.
walkthrough: $(STAMP)
	$(BIN)/python -m mnist_cnn.book.slides build $(NOTEBOOKS) --out $(WALKTHROUGH)

# The lectures: lectures/NN_*.md, equations pulled from the notebooks by tag, figures drawn.
lectures: $(STAMP)
	$(BIN)/python -m mnist_cnn.book.lectures lectures/*.md --out $(LECTURES)

student: $(STAMP)
	$(BIN)/python -m mnist_cnn.book.student build $(NOTEBOOKS) --out $(STUDENT)

handout: $(STAMP)
	$(BIN)/python -m mnist_cnn.book.handout build $(NOTEBOOKS) --out $(HANDOUT)

# Re-apply the animation cells, the exercise checks and the slide metadata after anyone edits
# a notebook (each step is idempotent); then `make book` to store the new outputs (and re-tag).
tag-notebooks: $(STAMP)
	$(BIN)/python -m mnist_cnn.animations $(NOTEBOOKS)
	$(BIN)/python -m mnist_cnn.book.student prepare $(NOTEBOOKS)
	$(BIN)/python -m mnist_cnn.book.slides tag $(NOTEBOOKS)

lint: $(STAMP)
	$(BIN)/ruff check mnist_cnn tests notebooks docs
	$(BIN)/actionlint .github/workflows/*.yml

# The browser tests in tests/browser open build/site, build/lectures, build/walkthrough and
# build/student, and read build/pdf (the PDF is built before the site, which links to it).
# Doctests run on mnist_cnn alone: collected with tests/, the two conftest.py would clash.
# Inside `make test` a reader without Chromium gets a note instead of the PDF (its tests skip,
# as the browser tests do); with CI=true a missing browser fails.
test: PDF_FLAGS = --skip-without-chromium
test: $(STAMP) lint pdf site lectures walkthrough student
	$(BIN)/python -m mnist_cnn.book.equations check $(NOTEBOOKS)
	$(BIN)/python -m pytest mnist_cnn --doctest-modules -q
	MNIST_CNN_SLIDES=$(WALKTHROUGH) MNIST_CNN_LECTURES=$(LECTURES) MNIST_CNN_STUDENT=$(STUDENT) \
	$(BIN)/python -m pytest tests notebooks \
		--nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg

# ~38 targeted wrong equations (mnist_cnn/book/mutants.py), each run against the tests and,
# if they miss it, the chapters' checks; the last line is "killed K of N" (fails unless K = N).
mutants: $(STAMP)
	$(BIN)/python -m mnist_cnn.book.mutants --workers 2

# Jupyter refuses to run as root unless told; containers and CI often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .ruff_cache runs
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
