#!/usr/bin/env bash
# GPU smoke test: vLLM generation and `vllm serve`, then one short R-Zero iteration on CUDA with stages as
# processes, with Hugging Face generation and again with vLLM (model.vllm=true).
# Run on a machine with an NVIDIA GPU:  bash scripts/gpu_smoke.sh   (about 10 minutes with installs)
# It starts from the CUDA build of torch this machine already has: the venv sees the system's packages.
# rzero accepts torch 2.11 to 2.13 (pyproject.toml), and vLLM pins one torch release; where the machine's
# torch differs, pip installs the needed one inside .venv-gpu only (the line after the installs prints
# which torch and vLLM the venv ends with). The system's own packages are never changed.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import torch; assert torch.cuda.is_available()" || {
  echo "gpu_smoke: needs a CUDA build of torch in this python3 (see docs/multi-gpu.md, Installing into an existing GPU environment)" >&2; exit 1; }
python3 -m venv --system-site-packages .venv-gpu
.venv-gpu/bin/pip install -q -e ".[dev]"
.venv-gpu/bin/pip install -q -e ".[gpu]"
.venv-gpu/bin/python -c "import torch, vllm; print('torch', torch.__version__, 'vllm', vllm.__version__)"
nvidia-smi --query-gpu=name,memory.total --format=csv
HF_HUB_OFFLINE=1 .venv-gpu/bin/python -m pytest -q -m gpu tests/test_gpu.py
HF_HUB_OFFLINE=1 .venv-gpu/bin/rzero run --out runs/gpu-smoke model.device=cuda launch.mode=subprocess \
  iterations=1 challenger.grpo_steps=2 curriculum.pool_questions=64 solver.grpo_steps=2 eval.problems=64
python3 -c "import json; s = json.load(open('runs/gpu-smoke/summary.json')); \
print({i['iteration']: i['evaluate']['greedy_accuracy'] for i in s['iterations']})"
# vLLM for votes, pools and evaluation, TRL's colocated vLLM for GRPO rollouts
HF_HUB_OFFLINE=1 .venv-gpu/bin/rzero run --out runs/gpu-smoke-vllm model.device=cuda model.vllm=true \
  launch.mode=subprocess iterations=1 challenger.grpo_steps=2 curriculum.pool_questions=64 solver.grpo_steps=2 \
  eval.problems=64
python3 -c "import json; s = json.load(open('runs/gpu-smoke-vllm/summary.json')); \
print({i['iteration']: i['evaluate']['greedy_accuracy'] for i in s['iterations']})"
