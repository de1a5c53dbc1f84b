"""Crash safety: SIGKILL a real `rzero run` at 12 moments spread over every stage, resume each run,
and check that it completes, that no finished stage is redone, that no artifact is truncated, and that
the final summary equals the one of an uninterrupted run with the same seed.

Equality is exact for every figure except wall times: each stage seeds its own generators and its
trainer from the run seed and the stage, and a resumed stage starts from the saved checkpoints, so
it repeats the uninterrupted computation on the same CPU with the same thread count.

Slow (about 10 minutes on 2 cores): `make test-all`.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

SMALL = [
    "iterations=2",
    "challenger.grpo_steps=2",
    "challenger.prompts_per_step=2",
    "challenger.rollouts_per_prompt=4",
    "voting.votes_per_question=4",
    "curriculum.pool_questions=24",
    "curriculum.band_delta=0.5",
    "solver.grpo_steps=2",
    "solver.questions_per_step=4",
    "solver.rollouts_per_question=4",
    "solver.max_new_tokens=96",
    "eval.max_new_tokens=96",
    "eval.problems=24",
    "model.threads=2",
]
# (what appears in the run directory, seconds to wait after it appears): 12 moments, every stage
MOMENTS = [
    ("iter_00/evaluate", 0.3),
    ("iter_00/evaluate/DONE", 0.0),
    ("iter_01/challenger", 0.5),
    ("iter_01/challenger", 4.0),
    ("iter_01/curriculum", 0.5),
    ("iter_01/curriculum/DONE", 0.0),
    ("iter_01/solver", 1.0),
    ("iter_01/evaluate", 0.2),
    ("summary.json", 0.0),
    ("iter_02/challenger", 2.0),
    ("iter_02/solver", 0.5),
    ("iter_02/evaluate", 0.2),
]
VOLATILE = {"seconds", "wall_seconds_this_invocation"}


def command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rzero.cli", "run", "--out", str(out), *extra, *SMALL]


def environment() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def stable(value):
    """The summary without wall times."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def done_markers(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.glob("iter_*/*/DONE")}


def assert_nothing_truncated(out: Path) -> None:
    """Every marker, summary and config parses; every JSONL file of a finished stage parses."""
    for marker in out.glob("iter_*/*/DONE"):
        json.loads(marker.read_text())
        for jsonl in marker.parent.glob("*.jsonl"):
            for line in jsonl.read_text().splitlines():
                json.loads(line)
        model = marker.parent / "model"
        if model.exists():
            assert (model / "model.safetensors").stat().st_size > 1000
    if (out / "summary.json").exists():
        json.loads((out / "summary.json").read_text())
    if (out / "config.yaml").exists():
        yaml.safe_load((out / "config.yaml").read_text())
    if (out / "metrics.jsonl").exists():
        for line in (out / "metrics.jsonl").read_text().splitlines():
            json.loads(line)


def kill_at(out: Path, trigger: str, delay: float, limit_s: float = 300) -> bool:
    """Start a run, SIGKILL it `delay` s after `trigger` appears; False if it finished first."""
    process = subprocess.Popen(command(out), env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.time()
    try:
        while not (out / trigger).exists():
            if process.poll() is not None:
                return False
            if time.time() - started > limit_s:
                raise AssertionError(f"{trigger} never appeared")
            time.sleep(0.02)
        time.sleep(delay)
        if process.poll() is not None:
            return False
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    subprocess.run(command(out), env=environment(), check=True, capture_output=True)
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("trigger, delay", MOMENTS, ids=[f"{t}+{d}s" for t, d in MOMENTS])
def test_sigkill_then_resume(tmp_path, reference, trigger, delay):
    out = tmp_path / "run"
    assert kill_at(out, trigger, delay), f"the run finished before {trigger} + {delay} s"
    assert_nothing_truncated(out)
    finished_before = done_markers(out)

    resumed = subprocess.run(command(out, "--resume"), env=environment(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = done_markers(out)
    for marker, mtime in finished_before.items():
        assert after[marker] == mtime, f"{marker} was redone"
    for marker in finished_before:
        assert f"iteration {int(marker[5:7])} {marker.split('/')[1]}: done earlier, skipped" in resumed.stdout
    assert len(after) == 1 + 4 * 2
    assert_nothing_truncated(out)
    assert not list(out.rglob(".*.tmp")), "temporary files left behind"
    assert stable(json.loads((out / "summary.json").read_text())) == stable(reference)
