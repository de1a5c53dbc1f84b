"""Several nodes: node 0's loop publishes each accelerate launch in the run directory, and
`rzero worker` on another node runs the same command with its own machine rank until the run ends."""

import json
import subprocess
import sys
import threading
import time

import pytest

from rzero.config.load import load_config
from rzero.core.rundir import RunDir
from rzero.engines.remote import SOLVER_URL_ENV
from rzero.run.launch import ACCELERATE_MODULE, launch_file, launch_stage
from rzero.run.worker import command_for_rank, finished, follow


def test_command_for_rank():
    command = ["/other/python", "-m", ACCELERATE_MODULE, "--config_file", "/c.yaml", "-m", "rzero.cli", "stage"]
    assert command_for_rank(command, 2) == [
        sys.executable,
        "-m",
        ACCELERATE_MODULE,
        "--machine_rank",
        "2",
        "--config_file",
        "/c.yaml",
        "-m",
        "rzero.cli",
        "stage",
    ]
    with pytest.raises(ValueError, match="not an accelerate launch"):
        command_for_rank(["python", "-m", "rzero.cli", "stage"], 1)


def test_worker_joins_each_published_launch_once_and_exits_when_the_run_ends(tmp_path):
    run = RunDir(tmp_path)
    run.config_path.write_text("iterations: 1\n")
    record = tmp_path / "joined.txt"
    script = "import os, sys; open(sys.argv[-1], 'a').write(' '.join(sys.argv[1:4]) + os.environ[sys.argv[-2]] + '\\n')"
    command = ["python", "-c", script, ACCELERATE_MODULE, SOLVER_URL_ENV, str(record)]
    path = launch_file(tmp_path, 1, "challenger")
    path.parent.mkdir()
    path.write_text(json.dumps({"command": command, "env": {SOLVER_URL_ENV: "http://node0:9"}, "written": 1.0}))
    joined = []
    worker = threading.Thread(target=lambda: joined.append(follow(tmp_path, 1, poll_s=0.05, log=lambda *_: None)))
    worker.start()
    deadline = time.time() + 30
    while not record.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # several polls: the same launch must not be joined twice
    assert not finished(tmp_path)
    run.begin(1, "evaluate")
    run.mark_done(1, "evaluate", {})
    worker.join(timeout=30)
    assert not worker.is_alive() and joined == [1]
    assert record.read_text() == f"{ACCELERATE_MODULE} --machine_rank 1http://node0:9\n"
    assert (tmp_path / "iter_01" / "challenger.machine1.log").exists()


def test_loop_publishes_the_accelerate_launch_while_it_runs(tmp_path, monkeypatch):
    accelerate_config = tmp_path / "accelerate.yaml"
    accelerate_config.write_text("num_machines: 2\n")
    cfg = load_config(None, ["launch.mode=accelerate", f"launch.accelerate_config={accelerate_config}"])
    run = RunDir(tmp_path / "run")
    seen = {}

    def fake_run(command, **kwargs):
        published = launch_file(run.root, 1, "solver")
        seen.update(json.loads(published.read_text()), cwd_free=published.is_absolute())
        run.begin(1, "solver")
        run.mark_done(1, "solver", {"trained": True, "seconds": 0})
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    launch_stage(cfg, run, 1, "solver")
    assert seen["command"][2] == ACCELERATE_MODULE and str(accelerate_config.resolve()) in seen["command"]
    assert str(run.root.resolve()) in seen["command"] and seen["env"] == {}
    assert not launch_file(run.root, 1, "solver").exists()  # removed when the phase ends
