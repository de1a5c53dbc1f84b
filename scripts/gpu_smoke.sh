#!/usr/bin/env bash
# GPU smoke test: vLLM generation and `vllm serve`, then one short R-Zero iteration on CUDA with stages as
# processes, with Hugging Face generation and again with vLLM (model.vllm=true).
# Run on a machine with an NVIDIA GPU:  bash scripts/gpu_smoke.sh   (about 10 minutes with installs)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-gpu
.venv-gpu/bin/pip install -q "torch==2.13.0" --index-url https://download.pytorch.org/whl/cu128
.venv-gpu/bin/pip install -q -e ".[dev,gpu]"
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
