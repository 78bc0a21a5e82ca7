# Quick start:  make run   (main experiment, CPU minutes)   |   make test   (test suite)
#               make test-quick   (the core library's tests only, 2-3 minutes)
# Each target creates .venv and installs the package with its test extras first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= results

DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: install run test test-quick docs figures report smoke bench bench-gpu bench-gpu-tiny gpu-wheels demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m experiments.learn_conv --preset default --out $(OUT) --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

# The core library's tests alone, for the edit-test loop (about 2-3 minutes on 2 idle
# cores): no experiments, multi-process, resume, fault-injection or slow tests, nor the
# statistical tests of metrics.weight_sharing (minutes of CPU); `make test` runs everything.
QUICK_TESTS := tests/test_public_names.py tests/test_validation.py tests/test_stats.py \
	tests/test_optim.py tests/test_nn.py tests/test_models.py tests/test_metrics.py \
	tests/test_embed.py tests/test_patches.py tests/test_data.py tests/test_conv.py

test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow" -k "not weight_sharing" $(QUICK_TESTS)

# The docs site (MkDocs, docs/README.md) into site/; warnings are errors; the tutorial
# notebook is executed during the build.
$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/python -m mkdocs build --strict --clean

demo: $(STAMP)
	$(BIN)/python -m experiments.equivalence --overwrite

# Every experiment at its default preset (`all`: 16 minutes on 2 idle cores, 8 of them
# sharing_emergence), then learn_conv on the 5,000 real 2-D digits, natural and
# pixel-shuffled (about 13 minutes each, 5 seeds), then docs/results + docs/figures refreshed and the README's result tables rendered from them.
figures: $(STAMP)
	$(BIN)/python -m experiments.all --preset default --out $(OUT) --no-progress --overwrite
	$(BIN)/python -m experiments.learn_conv --preset default --dataset mnist --out $(OUT) --no-progress --overwrite
	$(BIN)/python -m experiments.learn_conv --preset default --dataset mnist_shuffled --out $(OUT) --no-progress --overwrite
	$(BIN)/python -m experiments.report --refresh $(OUT)

report: $(STAMP)
	$(BIN)/python -m experiments.report

smoke: $(STAMP)
	$(BIN)/python -m experiments.all --preset smoke --out $(OUT)/smoke --overwrite

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --suite cpu --out benchmarks/results_cpu.json
	$(BIN)/python -m benchmarks.train_suite --out benchmarks/results_train_cpu.json

# On the GPU machine (benchmarks/BENCHMARKS.md, "GPU"): 7 minutes at most, preflight first.
bench-gpu:
	bash benchmarks/gpu_run.sh benchmarks/results_gpu

# The same script at tiny sizes on this machine's CPU: run it before any GPU time.
bench-gpu-tiny: $(STAMP)
	PYTHON=$(BIN)/python JAX_PLATFORMS=cpu bash benchmarks/gpu_run.sh /tmp/jaxcnn-gpu-tiny --tiny

# The pure-Python wheels the GPU image lacks (mnist1d, mlxtend), into .whl/ (git-ignored):
# the device call carries .whl and gpu_run.sh installs them.
GPU_WHEELS := mnist1d==0.0.2.post1 mlxtend==0.25.0
gpu-wheels: $(STAMP)
	$(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: -d .whl $(GPU_WHEELS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis site
