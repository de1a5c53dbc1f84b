"""Several nodes, the protocol in one process (the real launches are in tests/test_launches.py): node 0
publishes each accelerate launch in the run directory; `rzero worker` runs it with its own machine rank,
writes how it ended, beats while it lives, waits a bounded time for node 0 and leaves when node 0's run
ends; node 0 waits for every worker and stops a phase at once when a worker's part fails or falls silent."""

import json
import sys
import threading
import time

import pytest

from rzero.config.load import dump_yaml, load_config
from rzero.config.schema import ConfigError
from rzero.core.rundir import RunDir
from rzero.engines.remote import SOLVER_URL_ENV
from rzero.run import cluster
from rzero.run.cluster import Heartbeat, exit_path, read_json, wait_for_workers
from rzero.run.launch import ACCELERATE_MODULE, StageFailed, launch_file, launch_stage
from rzero.run.worker import WorkerError, command_for_rank, follow


@pytest.fixture(autouse=True)
def quick_heartbeats(monkeypatch):
    monkeypatch.setattr(cluster, "HEARTBEAT_S", 0.05)
    monkeypatch.setattr(cluster, "STALE_S", 2.0)


def two_machine_run(tmp_path):
    """A run directory whose config names an accelerate config of two machines."""
    accelerate = tmp_path / "accelerate.yaml"
    accelerate.write_text("num_machines: 2\nnum_processes: 2\nmain_process_ip: 127.0.0.1\n")
    cfg = load_config(None, ["launch.mode=accelerate", f"launch.accelerate_config={accelerate}"])
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    run.config_path.write_text(dump_yaml(cfg))
    return cfg, run


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


def test_a_worker_waits_a_bounded_time_and_an_earlier_runs_records_do_not_end_it(tmp_path):
    """A worker started before node 0's --resume: the summary of the stopped run and node 0's ended
    heartbeat are an earlier run's; the worker keeps waiting for a live node 0, up to --wait-seconds."""
    cfg, run = two_machine_run(tmp_path)
    run.summary_path.write_text(json.dumps({"config": {}, "iterations": [], "stopped": {"iteration": 1}}))
    cluster.heartbeat_path(run.root, 0).parent.mkdir()
    cluster.heartbeat_path(run.root, 0).write_text(json.dumps({"count": 9, "state": "ended"}))
    started = time.monotonic()
    with pytest.raises(WorkerError, match="no run of node 0 .* within 1 s"):
        follow(run.root, 1, poll_s=0.05, wait_s=1.0, log=lambda *_: None)
    assert time.monotonic() - started >= 1.0
    assert read_json(cluster.heartbeat_path(run.root, 1))["state"] == "ended"  # it beat while it waited


def test_a_worker_joins_each_launch_once_writes_its_exit_and_leaves_when_node_0_ends(tmp_path):
    cfg, run = two_machine_run(tmp_path)
    record = tmp_path / "joined.txt"
    script = "import os, sys; open(sys.argv[-1], 'a').write(' '.join(sys.argv[1:4]) + os.environ[sys.argv[-2]] + '\\n')"
    command = ["python", "-c", script, ACCELERATE_MODULE, SOLVER_URL_ENV, str(record)]
    path = launch_file(run.root, 1, "challenger")
    path.parent.mkdir()
    path.write_text(json.dumps({"command": command, "env": {SOLVER_URL_ENV: "http://node0:9"}, "written": 1.0}))
    joined, node0_done = [], threading.Event()

    def node0():
        with Heartbeat(run.root, 0):
            node0_done.wait(30)

    threading.Thread(target=node0).start()
    worker = threading.Thread(target=lambda: joined.append(follow(run.root, 1, poll_s=0.05, log=lambda *_: None)))
    worker.start()
    deadline = time.time() + 30
    while not exit_path(run, 1, "challenger", 1).exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # several polls: the same launch must not be joined twice
    node0_done.set()  # node 0's run ends: the worker leaves
    worker.join(timeout=30)
    assert not worker.is_alive() and joined == [1]
    assert record.read_text() == f"{ACCELERATE_MODULE} --machine_rank 1http://node0:9\n"
    assert read_json(exit_path(run, 1, "challenger", 1)) == {"launch": 1.0, "returncode": 0}
    assert (run.iteration(1) / "challenger.machine1.log").exists()


def test_node_0_waits_for_every_worker_and_names_the_one_missing(tmp_path):
    missing = pytest.raises(ConfigError, match=r"machine 2 of 3 has not joined within 0 s .*machine-rank 2")
    with missing, Heartbeat(tmp_path, 1):
        wait_for_workers(tmp_path, 3, timeout_s=0.5, poll_s=0.05)
    with Heartbeat(tmp_path, 1), Heartbeat(tmp_path, 2):
        wait_for_workers(tmp_path, 3, timeout_s=5, poll_s=0.05)  # both beat: no error


def slow_stage(monkeypatch, seconds: float = 60):
    """Node 0's part of a phase: a process that sleeps (an accelerate launch by its command line)."""
    command = [sys.executable, "-c", f"import time; time.sleep({seconds})", ACCELERATE_MODULE]
    monkeypatch.setattr("rzero.run.launch.stage_command", lambda *args: command)


def test_node_0_stops_a_phase_at_once_when_a_workers_part_fails(tmp_path, monkeypatch):
    cfg, run = two_machine_run(tmp_path)
    slow_stage(monkeypatch)

    def worker_fails():
        path = launch_file(run.root, 1, "solver")
        while not path.exists():
            time.sleep(0.05)
        written = json.loads(path.read_text())["written"]
        exit_path(run, 1, "solver", 1).write_text(json.dumps({"launch": written, "returncode": 1}))

    with Heartbeat(run.root, 1):
        threading.Thread(target=worker_fails).start()
        started = time.monotonic()
        with pytest.raises(
            StageFailed, match=r"machine 1 exited with code 1 in iteration 1 solver; see .*solver.machine1.log"
        ):
            launch_stage(cfg, run, 1, "solver")
    assert time.monotonic() - started < 15 and not launch_file(run.root, 1, "solver").exists()


def test_node_0_stops_a_phase_when_a_worker_falls_silent(tmp_path, monkeypatch):
    cfg, run = two_machine_run(tmp_path)
    slow_stage(monkeypatch)
    started = time.monotonic()
    with pytest.raises(StageFailed, match="machine 1 stopped answering .* in iteration 1 challenger"):
        launch_stage(cfg, run, 1, "challenger")
    assert 2.0 <= time.monotonic() - started < 15


def test_loop_publishes_the_accelerate_launch_while_it_runs(tmp_path, monkeypatch):
    cfg, run = two_machine_run(tmp_path)
    seen = tmp_path / "seen.json"
    script = (
        "import json, shutil, sys; from pathlib import Path; run = Path(sys.argv[1])\n"
        "shutil.copy(run / 'iter_01' / 'solver.launch.json', sys.argv[2])\n"
        "(run / 'iter_01' / 'solver').mkdir(); (run / 'iter_01' / 'solver' / 'DONE').write_text('{\"trained\": true}')"
    )
    command = [sys.executable, "-c", script, str(run.root), str(seen), ACCELERATE_MODULE]
    monkeypatch.setattr("rzero.run.launch.stage_command", lambda *args: command)
    with Heartbeat(run.root, 1):
        launch_stage(cfg, run, 1, "solver")
    published = json.loads(seen.read_text())
    assert published["command"] == command and published["env"] == {}
    assert not launch_file(run.root, 1, "solver").exists()  # removed when the phase ends
