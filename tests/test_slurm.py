"""scripts/slurm/rzero-2nodes.sbatch, run by bash with SLURM's environment and stand-ins for `scontrol`,
`srun` and `rzero` that record how they are called: node 0's address comes from the allocation, each
machine's rank from SLURM_NODEID, no address is edited in YAML, a requeued job resumes its run, and the time
limit's signal stops node 0 and requeues the job."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm" / "rzero-2nodes.sbatch"

FAKES = {
    "scontrol": """#!/bin/bash
echo "scontrol $*" >> "$CALLS"
if [ "$1 $2" = "show hostnames" ]; then printf 'gpu-07\\ngpu-08\\n'; fi
""",
    # srun: run the task's command once per node, as SLURM would on each; FAKE_SRUN_SLEEP holds it up instead
    "srun": """#!/bin/bash
echo "srun ${*:1:$#-3}" >> "$CALLS"
if [ -n "${FAKE_SRUN_SLEEP:-}" ]; then
  trap 'echo "srun got TERM" >> "$CALLS"; exit 143' TERM
  touch "$CALLS.started"; sleep "$FAKE_SRUN_SLEEP" & wait
  exit 0
fi
for node in $(seq 0 $((SLURM_NNODES - 1))); do SLURM_NODEID=$node bash -c "${@: -1}"; done
""",
    "rzero": """#!/bin/bash
echo "rzero[$SLURM_NODEID] $*" >> "$CALLS"
""",
}


@pytest.fixture
def slurm(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in FAKES.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls.txt"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "SLURM_JOB_ID": "42",
        "SLURM_JOB_NODELIST": "gpu-[07-08]",
        "SLURM_NNODES": "2",
        "SLURM_SUBMIT_DIR": str(tmp_path),
    }
    return env, calls, tmp_path


def test_the_script_parses_and_asks_for_the_signal_and_the_requeue():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    directives = [line.split()[1] for line in SCRIPT.read_text().splitlines() if line.startswith("#SBATCH")]
    assert {"--nodes=2", "--ntasks-per-node=1", "--gres=gpu:8", "--requeue"} <= set(directives)
    assert any(d.startswith("--signal=B:USR1@") for d in directives)


def test_node_0_runs_the_loop_and_node_1_the_worker(slurm):
    env, calls, folder = slurm
    assert subprocess.run(["bash", str(SCRIPT)], env=env, timeout=60).returncode == 0
    lines = calls.read_text().splitlines()
    node0 = next(line for line in lines if line.startswith("rzero[0] "))
    run = folder / "runs" / "rzero-42"
    assert node0.startswith(f"rzero[0] run --config qwen3-4b-base --out {run} launch.mode=accelerate ")
    assert "launch.main_process_ip=gpu-07 launch.main_process_port=29500" in node0 and "--resume" not in node0
    assert node0.split("launch.accelerate_config=")[1].split()[0].endswith("/accelerate/multinode-zero3.yaml")
    assert f"rzero[1] worker --run {run} --machine-rank 1" in lines
    assert "scontrol show hostnames gpu-[07-08]" in lines and "srun --ntasks=2 --ntasks-per-node=1" in "\n".join(lines)


def test_a_requeued_job_resumes_its_run(slurm):
    env, calls, folder = slurm
    (folder / "runs" / "rzero-42").mkdir(parents=True)
    (folder / "runs" / "rzero-42" / "config.yaml").write_text("iterations: 3\n")
    assert subprocess.run(["bash", str(SCRIPT)], env={**env, "RZERO_ARGS": "iterations=3"}, timeout=60).returncode == 0
    node0 = next(line for line in calls.read_text().splitlines() if line.startswith("rzero[0] "))
    assert " --resume launch.mode=accelerate " in node0 and node0.endswith(" iterations=3")


def test_the_time_limit_signal_stops_the_run_and_requeues_the_job(slurm):
    env, calls, _ = slurm
    job = subprocess.Popen(["bash", str(SCRIPT)], env={**env, "FAKE_SRUN_SLEEP": "60"})
    deadline = time.time() + 30
    while not Path(f"{calls}.started").exists():
        assert time.time() < deadline and job.poll() is None
        time.sleep(0.1)
    job.send_signal(signal.SIGUSR1)  # what `#SBATCH --signal=B:USR1@600` sends the batch shell
    assert job.wait(timeout=30) == 0
    lines = calls.read_text().splitlines()
    assert "srun got TERM" in lines and lines[-1] == "scontrol requeue 42"
