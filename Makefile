# Two commands for a newcomer: `make demo` and `make test`. Both create .venv and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint bench pretrain-base clean browser

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

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/rzero run

test: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-all: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not gpu"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/base_model.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/repetition_penalty.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/self_evolution.py

pretrain-base: $(STAMP)
	$(BIN)/rzero pretrain-base --out src/rzero/base_model --overwrite

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
