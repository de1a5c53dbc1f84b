#!/usr/bin/env bash
# GPU smoke test on ONE GPU, at most 10 minutes once installed: each part prints PASS, FAIL or SKIP (and why),
# its output in $OUT/<part>.log; the exit code is 1 when a part failed.
#   cuda      a CUDA build of torch sees the GPU
#   zero3     the embedded model through accelerate + DeepSpeed ZeRO-3 (1 process): loads sharded (zero.Init),
#             trains one GRPO step, saves the 16-bit weights gathered, equal to the consolidated state
#   loop      one short R-Zero iteration on CUDA, stages as processes, GRPO phases under accelerate + ZeRO-3
#   vllm      the vLLM engine, `vllm serve` and an evaluation sharded over two engine processes (pytest -m gpu)
#   colocate  one short iteration with model.vllm=true: votes, pools and evaluation on vLLM, GRPO rollouts by
#             TRL's colocated vLLM
# Install first (a venv that sees this machine's CUDA torch; nothing of the system's packages changes):
#   SMOKE_INSTALL=1 bash scripts/gpu_smoke.sh          # creates .venv-gpu with .[dev] and .[gpu] (vLLM, DeepSpeed)
# or run in an environment that has rzero's dependencies already:  PY=python3 bash scripts/gpu_smoke.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-smoke}
LIMIT=${LIMIT:-300}  # seconds a part may take
PY=${PY:-.venv-gpu/bin/python}
export HF_HUB_OFFLINE=1
if [ "${SMOKE_INSTALL:-0}" = 1 ]; then
  python3 -m venv --system-site-packages .venv-gpu && .venv-gpu/bin/pip install -q -e ".[dev]" -e ".[gpu]" || exit 1
fi
rm -rf "$OUT" && mkdir -p "$OUT"
failed=0
part() {  # part NAME NEEDED_MODULES COMMAND...
  local name=$1 needs=$2 started=$SECONDS
  shift 2
  for module in $needs; do
    if ! "$PY" -c "import $module" >/dev/null 2>&1; then echo "SKIP $name: $module is not installed"; return; fi
  done
  if timeout "$LIMIT" "$@" >"$OUT/$name.log" 2>&1; then
    echo "PASS $name ($((SECONDS - started)) s)"
  else
    echo "FAIL $name (exit $?, $((SECONDS - started)) s): see $OUT/$name.log"
    failed=1
  fi
}
TINY="iterations=1 model.device=cuda challenger.grpo_steps=2 curriculum.pool_questions=64 solver.grpo_steps=2 eval.problems=64"
ZERO3="launch.mode=accelerate launch.accelerate_config=configs/accelerate/1gpu-zero3.yaml"

part cuda torch "$PY" -c "import torch; assert torch.cuda.is_available(); print(torch.__version__, torch.cuda.get_device_name())"
part zero3 "deepspeed trl" bash -c "$PY -m accelerate.commands.launch --config_file configs/accelerate/1gpu-zero3.yaml \
  tests/launched/zero3_load_and_save.py $OUT/zero3 cuda && $PY -c \"import json; r = json.load(open('$OUT/zero3/report.json')); \
assert r['equal_to_consolidated'] and r['saved_shapes'] == r['original_shapes'] and r['changed'], r; print(r['world_size'])\""
part loop "deepspeed trl" "$PY" -m rzero.cli run --out "$OUT/loop" $TINY $ZERO3
part vllm "vllm pytest" "$PY" -m pytest -q -m gpu tests/test_gpu.py
part colocate "vllm trl" "$PY" -m rzero.cli run --out "$OUT/colocate" $TINY model.vllm=true launch.mode=subprocess
for run in loop colocate; do
  [ -f "$OUT/$run/summary.json" ] && "$PY" -c "import json; s = json.load(open('$OUT/$run/summary.json')); \
print('$run held-out greedy:', {i['iteration']: i['evaluate']['greedy_accuracy'] for i in s['iterations']})"
done
exit $failed
