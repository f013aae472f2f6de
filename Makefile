# The course's commands. Setup is implicit: every target that needs the virtual
# environment creates it when it is missing or its requirements changed.
SHELL := /bin/bash
PYTHON ?= $(shell bash scripts/find-python.sh 3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# What the venv is built from: the pins and pyproject's install metadata (its
# [tool.pytest], [tool.ruff] and [tool.course] tables change nothing installed).
INSTALL_META = awk '/^\[/{skip=($$0 ~ /^\[tool\.(pytest|ruff|course)/)} !skip' pyproject.toml
REQ_HASH := $(shell { cat requirements.txt; $(INSTALL_META); } | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
COLAB_PYTHON ?= $(shell bash scripts/find-python.sh 3.13)
COLAB_VENV ?= .venv-colab
COLAB_HASH := $(shell { cat requirements-colab-stack.txt requirements-colab.txt; $(INSTALL_META); } | sha256sum | cut -c1-16)
COLAB_STAMP := $(COLAB_VENV)/.installed-$(COLAB_HASH)
COURSE_PROFILE ?= standard
export COURSE_PROFILE
# Quieter TensorFlow start-up logs.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help setup data browser run lab labs test lint unit notebooks-test e2e clean colab-links test-colab bench

help:
	@echo "make run     execute every lecture headless (COURSE_PROFILE=$(COURSE_PROFILE)), write build/report.md"
	@echo "make test    ruff, pytest, nbval (smoke profile) and the JupyterLab end-to-end test"
	@echo "make lab     open JupyterLab with the course's environment"
	@echo "make labs    regenerate labs/ from solutions/"
	@echo "make test-colab  unit tests and smoke notebooks on Colab's stack (Python 3.13, TF 2.20)"
	@echo "make data    install or download Fashion-MNIST and verify its checksums"
	@echo "make bench   measure times, throughput, quantisation and the final model against keras.io's recipe; writes build/bench.md"
	@echo "             (BENCH_ARGS=--final-only: only the final model and the peer recipe, about 14 min)"
	@echo "make clean   remove build/, results/ and caches (keeps .venv)"

setup: $(STAMP)

# No file prerequisites: the stamp's name holds the hash of what it was built
# from, so editing pyproject's tool tables does not rebuild the environment.
$(STAMP):
	@echo "Creating $(VENV) with $(PYTHON) and the pinned stack (a few minutes, once)…"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --progress-bar off -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)
	@echo "$(VENV) is ready."

data: setup
	@bash scripts/get-data.sh $(BIN)/python

run: setup data
	$(BIN)/python -m utils.report

lab: setup data
	$(BIN)/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root)

labs: setup
	$(BIN)/python -m utils.labs

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: setup data
	$(BIN)/pytest --ignore=tests/e2e

# Solutions run as `nbgrader validate` runs them (NBGRADER_EXECUTION=validate): each
# graded cell re-runs its exercise's check and fails the run if the answer fails it.
notebooks-test: setup data
	rm -rf build/test-results
	COURSE_PROFILE=smoke COURSE_RESULTS_DIR=$(CURDIR)/build/test-results NBGRADER_EXECUTION=validate \
		$(BIN)/pytest --nbval-lax --nbval-current-env notebooks/ solutions/

browser:
	@bash scripts/get-chromium.sh

e2e: setup data browser
	$(BIN)/pytest tests/e2e

test: lint unit notebooks-test e2e
	@echo "All tests passed."

$(COLAB_STAMP):
	@test -n "$(COLAB_PYTHON)" || { echo "make test-colab needs python3.13 (set COLAB_PYTHON)"; exit 1; }
	@echo "Creating $(COLAB_VENV) with $(COLAB_PYTHON) and Colab's stack…"
	rm -rf $(COLAB_VENV)
	$(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COLAB_VENV)/bin/python -m pip install --quiet --progress-bar off -r requirements-colab-stack.txt
	$(COLAB_VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(COLAB_STAMP)

test-colab: $(COLAB_STAMP) data
	$(COLAB_VENV)/bin/python -c "import sys, tensorflow, keras; print('Colab stack: Python', sys.version.split()[0], 'TensorFlow', tensorflow.__version__, 'Keras', keras.__version__)"
	$(COLAB_VENV)/bin/pytest --ignore=tests/e2e
	rm -rf build/test-results-colab
	COURSE_PROFILE=smoke COURSE_RESULTS_DIR=$(CURDIR)/build/test-results-colab NBGRADER_EXECUTION=validate \
		$(COLAB_VENV)/bin/pytest --nbval-lax --nbval-current-env notebooks/ solutions/

bench: setup data browser
	$(BIN)/python -m utils.bench $(BENCH_ARGS)

colab-links: setup
	$(BIN)/python -m utils.colab $(REPO)

clean:
	rm -rf build results .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
