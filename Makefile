# neuronscope: `make demo` and `make test` work on a fresh machine.
# The CPU build of torch is pinned here (override: make test TORCH=torch==2.14.1);
# pyproject keeps the open range torch>=2.2.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
TORCH  ?= torch==2.13.0
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.neuronscope-installed
LINTED := $(wildcard src tests benchmarks experiments)
OUT    ?= neuronscope-out

.PHONY: demo test lint setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/neuronscope train shapes-cnn
	$(BIN)/neuronscope overview zoo:shapes-cnn --out $(OUT)
	@echo "Open $(OUT)/index.html in a browser."

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)

test: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/python -m pytest -n 2 --doctest-modules tests src/neuronscope

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache .hypothesis
