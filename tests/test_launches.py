"""Real launches of several processes on CPU (`make test-launch`, which .ci/run calls): nothing faked.

- `rzero run launch.mode=accelerate` with two processes (DDP, gloo) and with DeepSpeed ZeRO-3 on CPU: one
  rank writes each stage's records, every rank's rollouts in them; the Challenger's repetition penalty is
  the one a single process computes on the whole round; the saved models load whole and have trained.
- ZeRO-3 loads the policy sharded and saves it whole: the file equals the consolidated state.
- Two machines on 127.0.0.1 (`rzero run` + `rzero worker --machine-rank 1`), a worker killed mid-phase
  (node 0 stops within 60 s naming it; `--resume` with a new worker completes), a worker that never comes.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from rzero.config.load import SHIPPED
from rzero.core.domains.arithmetic import ArithmeticDomain
from rzero.core.rewards import repetition_penalty
from rzero.run.inputs import embedded_base_path

pytestmark = pytest.mark.launch

if os.environ.get("RZERO_REQUIRE_DEEPSPEED") != "1":
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed: make test-launch installs it")

ACCELERATE = SHIPPED / "accelerate"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
STEPS, PROMPTS, ROLLOUTS = 2, 4, 4  # each GRPO phase: 2 rounds of 4 prompts x 4 rollouts = 32 rollouts
TINY = [
    "iterations=1",
    "model.threads=1",
    f"challenger.grpo_steps={STEPS}",
    f"challenger.prompts_per_step={PROMPTS}",
    f"challenger.rollouts_per_prompt={ROLLOUTS}",
    "challenger.max_new_tokens=32",
    "curriculum.pool_questions=16",
    f"solver.grpo_steps={STEPS}",
    f"solver.questions_per_step={PROMPTS}",
    f"solver.rollouts_per_question={ROLLOUTS}",
    "solver.max_new_tokens=64",
    "eval.problems=16",
    "eval.max_new_tokens=64",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rzero(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rzero.cli", *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, **kwargs,
    )  # fmt: skip


def run_accelerate(out: Path, config: str, *extra: str, timeout: float = 600) -> str:
    process = rzero("run", "--out", str(out), "launch.mode=accelerate", f"launch.accelerate_config={config}",
                    *TINY, *extra)  # fmt: skip
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]
    return output


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_ranks_wrote_once(out: Path) -> None:
    """One rank wrote each GRPO stage's records: every rollout of every round once, DONE once."""
    stage = out / "iter_01"
    for role, records in (("challenger", "questions.jsonl"), ("solver", "rollouts.jsonl")):
        rows = jsonl(stage / role / records)
        assert len(rows) == STEPS * PROMPTS * ROLLOUTS, (role, len(rows))  # one rank alone would give half
        assert sorted({row["step"] for row in rows}) == list(range(1, STEPS + 1))
        assert all(sum(row["step"] == s for row in rows) == PROMPTS * ROLLOUTS for s in range(1, STEPS + 1))
        assert sorted(p.name for p in (stage / role).iterdir()) == ["DONE", "model", records, "train_log.jsonl"]
        assert json.loads((stage / role / "DONE").read_text())["seconds"] > 0


def check_penalty_is_the_whole_rounds(out: Path) -> None:
    """The repetition penalty each rank gave its questions is the one one process computes on the round."""
    domain = ArithmeticDomain()
    rounds = defaultdict(list)
    for row in jsonl(out / "iter_01" / "challenger" / "questions.jsonl"):
        rounds[row["step"]].append(row)
    for rows in rounds.values():
        questions = [row["question"] for row in rows if row["well_formed"]]
        alone = repetition_penalty(questions, 0.5, 1.0, tokenize=domain.bleu_tokens)
        assert [row["repetition"] for row in rows if row["well_formed"]] == pytest.approx(alone, abs=1e-12)
        assert len(questions) > PROMPTS * ROLLOUTS // 2  # more than one rank's share was in the round


def check_models_whole_and_trained(out: Path) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    original = load_file(embedded_base_path() / "model.safetensors")
    for role in ("challenger", "solver"):
        folder = out / "iter_01" / role / "model"
        saved = load_file(folder / "model.safetensors")
        assert {k: v.shape for k, v in saved.items()} == {k: v.shape for k, v in original.items()}
        assert any(not torch.equal(saved[k], original[k]) for k in saved), f"{role}: nothing trained"
        model = AutoModelForCausalLM.from_pretrained(folder)  # a fresh load, every tensor full-size
        assert all(p.numel() == original[n].numel() for n, p in model.named_parameters() if n in original)


@pytest.mark.parametrize("config", ["cpu-2proc.yaml", "cpu-2proc-zero3.yaml"], ids=["ddp", "deepspeed-zero3"])
def test_two_processes_under_accelerate(tmp_path, config):
    out = tmp_path / "run"
    run_accelerate(out, str(ACCELERATE / config))
    check_ranks_wrote_once(out)
    check_penalty_is_the_whole_rounds(out)
    check_models_whole_and_trained(out)


def test_zero3_loads_sharded_and_saves_the_consolidated_state(tmp_path):
    script = Path(__file__).parent / "launched" / "zero3_load_and_save.py"
    config = str(ACCELERATE / "cpu-2proc-zero3.yaml")
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config,
               "--main_process_port", str(free_port()), str(script), str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["world_size"] == 2
    assert all(mine < whole for mine, whole in report["loaded"].values())  # each rank held a shard at load
    assert report["saved_shapes"] == report["original_shapes"]  # saved whole
    assert report["equal_to_consolidated"] and report["changed"] == len(report["saved_shapes"])


def two_machines(out: Path, *extra: str, port: int = 0) -> subprocess.Popen:
    config = str(ACCELERATE / "cpu-2machines.yaml")
    return rzero("run", "--out", str(out), "launch.mode=accelerate", f"launch.accelerate_config={config}",
                 f"launch.main_process_port={port or free_port()}", *TINY, *extra)  # fmt: skip


def worker(out: Path, *extra: str) -> subprocess.Popen:
    return rzero("worker", "--run", str(out), "--machine-rank", "1", "--poll-seconds", "0.5", *extra)


def test_two_machines_on_one_host(tmp_path):
    out = tmp_path / "run"
    node0 = two_machines(out)
    machine1 = worker(out)
    output, _ = node0.communicate(timeout=600)
    assert node0.returncode == 0, output[-4000:]
    joined, _ = machine1.communicate(timeout=120)
    assert machine1.returncode == 0 and "joined 2 GRPO phases" in joined, joined
    check_ranks_wrote_once(out)
    check_penalty_is_the_whole_rounds(out)
    for role in ("challenger", "solver"):
        assert json.loads((out / "iter_01" / f"{role}.machine1.exit.json").read_text())["returncode"] == 0
    assert not list(out.glob("iter_*/*.launch.json"))


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_worker_killed_mid_phase_stops_node_0_and_the_run_resumes(tmp_path):
    out, port = tmp_path / "run", free_port()
    node0 = two_machines(out, "challenger.grpo_steps=20", port=port)  # a phase long enough to die in
    machine1 = worker(out)
    machine_log, node0_log = out / "iter_01" / "challenger.machine1.log", out / "iter_01" / "challenger.launch.log"

    def training() -> bool:  # rank 0's progress bar: both ranks met and train
        return machine_log.exists() and node0_log.exists() and "challenger GRPO:" in node0_log.read_text()

    wait_for(training, 300, "the phase to train on both machines")
    machine1.send_signal(signal.SIGKILL)
    killed = time.time()
    output, _ = node0.communicate(timeout=120)
    assert time.time() - killed < 60
    assert node0.returncode == 1, output[-3000:]
    last = output.strip().splitlines()[-1]
    assert last.startswith("rzero run: machine 1 ") and str(machine_log) in last and "--resume" in last
    assert not (out / "iter_01" / "challenger" / "DONE").exists() and not list(out.glob("iter_*/*.launch.json"))
    wait_for(lambda: not subprocess.run(["pgrep", "-f", f"--run {out}"], capture_output=True).stdout, 60, "ranks")
    # a launch file a killed node 0 would leave: cleared on resume, never joined
    stale = {"command": [sys.executable, "-m", "accelerate.commands.launch", "-c", "exit 7"], "env": {}, "written": 1.0}
    (out / "iter_01" / "solver.launch.json").write_text(json.dumps(stale))
    machine1 = worker(out)  # started before the resume: it waits for node 0's live run
    node0 = two_machines(out, "challenger.grpo_steps=20", "--resume", port=port)
    output, _ = node0.communicate(timeout=900)
    assert node0.returncode == 0, output[-3000:]
    joined, _ = machine1.communicate(timeout=120)
    assert machine1.returncode == 0 and "joined 2 GRPO phases" in joined, joined  # the stale launch was not one


def test_a_machine_that_never_joins_stops_node_0_within_a_minute(tmp_path):
    started = time.time()
    node0 = two_machines(tmp_path / "run")
    output, _ = node0.communicate(timeout=180)
    assert time.time() - started < 90 and node0.returncode == 2, output[-2000:]
    assert "machine 1 of 2 has not joined within 60 s" in output.strip().splitlines()[-1]


def accelerate_launch_of(config: Path, *flags: str):
    """What `accelerate launch` makes of a DeepSpeed config on one machine: (the command it would run, or None
    when it launches torchrun-style in its own process, and the arguments it gives that launch)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    stage = ["-m", "rzero.cli", "stage", "solver", "--run", "/shared/run", "--iteration", "1"]
    args = launch_command_parser().parse_args(["--config_file", str(config), *flags, *stage])
    args, defaults, _ = _validate_launch_command(args)
    args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)  # as launch_command does
    command, _ = prepare_deepspeed_cmd_env(args)
    return command, args


def test_the_multinode_config_launches_per_node_not_over_pdsh(tmp_path):
    """The shipped 2-node config: each node launches its own 8 ranks (nnodes 2, its node rank, node 0's
    address) as `rzero worker` does on node 1; without deepspeed_multinode_launcher: standard, accelerate
    would run `deepspeed --launcher pdsh` from node 0 (ssh to the other nodes)."""
    shipped = ACCELERATE / "multinode-zero3.yaml"
    command, args = accelerate_launch_of(shipped, "--machine_rank", "1", "--main_process_ip", "10.1.2.3")
    assert command is None and (args.nnodes, args.node_rank, args.nproc_per_node) == ("2", 1, "8")
    assert "10.1.2.3" in (getattr(args, "master_addr", None), getattr(args, "rdzv_endpoint", "").split(":")[0])
    pdsh = tmp_path / "pdsh.yaml"
    pdsh.write_text(shipped.read_text().replace("  deepspeed_multinode_launcher: standard\n", ""))
    command, _ = accelerate_launch_of(pdsh, "--main_process_ip", "10.1.2.3")
    assert command[0] == "deepspeed" and "pdsh" in command
