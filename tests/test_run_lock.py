"""One `rzero run` per run directory: a second one, with or without --resume, on a directory that a
live process holds stops at once with one line naming that process and touches nothing there; a
holder killed with SIGKILL, or a lock file alone, blocks nothing; stage processes share the lock."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rzero.cli import main
from rzero.run.runlock import LOCK_NAME, RunDirBusy, run_lock

HOLDER = """\
import subprocess, sys, time
from rzero.run.runlock import inherited_fds, run_lock

with run_lock(sys.argv[1]):
    child = None
    if len(sys.argv) > 2:  # a stage process that shares the lock, as rzero.run.launch starts one
        sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
        child = subprocess.Popen(sleep, pass_fds=inherited_fds(sys.argv[1]))
    print("locked", child.pid if child else "", flush=True)
    time.sleep(120)
"""


def run_dir(tmp_path):
    """A run directory part way through: config, a finished stage, a leftover temporary file (which
    a run that went on would delete) and a stale lock file."""
    from rzero.cli import DEFAULT_CONFIG
    from rzero.config.load import dump_yaml, load_config
    from rzero.core.records import EvaluateMetrics

    folder = tmp_path / "run"
    (folder / "iter_00" / "evaluate").mkdir(parents=True)
    (folder / "config.yaml").write_text(dump_yaml(load_config(DEFAULT_CONFIG, [])))
    (folder / "iter_00" / "evaluate" / "DONE").write_text(json.dumps(EvaluateMetrics().model_dump()))
    (folder / ".summary.json.abc.tmp").write_text("half written")
    return folder


def snapshot(folder) -> dict:
    """Every path under `folder` with its bytes and modification time (None for folders)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def start_holder(tmp_path, folder, *extra) -> tuple[subprocess.Popen, str]:
    """A second Python process that takes the lock of `folder` with rzero's function, then sleeps;
    returns it and what it printed once it held the lock (the PID of its stage child, if any)."""
    script = tmp_path / "hold_lock.py"
    script.write_text(HOLDER)
    process = subprocess.Popen([sys.executable, str(script), str(folder), *extra], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("locked"), f"the holder did not take the lock: {line!r}"
    return process, line.split()[1] if len(line.split()) > 1 else ""


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def wait_ended(pid: int, limit_s: float = 10) -> None:
    """Wait until process `pid`, not a child of this one, has ended (gone, or a zombie: its files
    are closed either way)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still runs after {limit_s} s")


@pytest.fixture
def quick_imports():
    """Import what `rzero run` imports, so that the timing below measures the refusal alone."""
    import rzero.run.loop  # noqa: F401
    from rzero.cli import _quiet_libraries

    _quiet_libraries()


@pytest.mark.parametrize("resume", [["--resume"], []], ids=["resume", "fresh"])
def test_second_run_stops_at_once_naming_the_holder(tmp_path, capsys, no_model_loads, quick_imports, resume):
    folder = run_dir(tmp_path)
    holder, _ = start_holder(tmp_path, folder)
    try:
        before = snapshot(folder)
        started = time.monotonic()
        assert main(["run", "--out", str(folder), *resume]) == 2
        elapsed = time.monotonic() - started
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert f"rzero run: --out {folder} is in use by PID {holder.pid} (" in err
        assert "hold_lock.py" in err  # its command, from /proc/PID/cmdline
        assert elapsed < 5, f"took {elapsed:.1f} s"
        assert snapshot(folder) == before
        assert holder.poll() is None
    finally:
        kill(holder.pid)
        holder.wait()


def test_killed_holder_leaves_no_stuck_lock(tmp_path):
    folder = run_dir(tmp_path)
    holder, _ = start_holder(tmp_path, folder)
    with pytest.raises(RunDirBusy, match=f"PID {holder.pid}"), run_lock(folder):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with run_lock(folder) as locked:
        assert locked
        assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_lock_file_of_a_dead_process_does_not_block_a_run(tmp_path, monkeypatch, no_model_loads):
    """`rzero run --resume` goes past a lock file whose holder has ended, to the work."""
    import rzero.run.loop

    folder = run_dir(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = {"pid": int(dead.stdout), "host": os.uname().nodename, "command": "rzero run"}
    (folder / LOCK_NAME).write_text(json.dumps(record) + "\n")

    def work_starts(*args, **kwargs):
        raise RuntimeError("past the lock")

    monkeypatch.setattr(rzero.run.loop, "build_domain", work_starts)
    with pytest.raises(RuntimeError, match="past the lock"):
        main(["run", "--out", str(folder), "--resume"])
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_stage_process_of_a_killed_run_keeps_the_lock(tmp_path, capsys, no_model_loads, quick_imports):
    """A stage process inherits the lock: while it outlives its killed parent, a second run is
    refused naming the stage; once it ends, the directory is free."""
    folder = run_dir(tmp_path)
    holder, child = start_holder(tmp_path, folder, "with-a-stage")
    child_pid = int(child)
    try:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert main(["run", "--out", str(folder), "--resume"]) == 2
        err = capsys.readouterr().err.strip()
        assert f"is in use by PID {child_pid} (" in err and f"started by PID {holder.pid}, which has ended" in err
    finally:
        kill(child_pid)
    wait_ended(child_pid)
    with run_lock(folder) as locked:
        assert locked


def test_stage_command_runs_while_the_parent_holds_the_lock(tmp_path):
    """`rzero stage`, started by rzero.run.launch as the loop does, is not blocked by its parent's lock."""
    from rzero.cli import DEFAULT_CONFIG
    from rzero.config.load import load_config
    from rzero.core.rundir import RunDir
    from rzero.run.launch import launch_stage

    folder = run_dir(tmp_path)
    cfg = load_config(DEFAULT_CONFIG, ["launch.mode=subprocess"])
    with run_lock(folder):
        metrics = launch_stage(cfg, RunDir(folder), 0, "evaluate")
    log = (folder / "iter_00" / "evaluate.launch.log").read_text()
    assert "iteration 0 evaluate is done already" in log and metrics.seconds == 0


def test_launch_passes_the_lock_to_the_stage_process(tmp_path, monkeypatch):
    """The stage process that rzero.run.launch starts holds the parent's lock descriptor (so a stage that
    outlives a killed parent keeps a second run out)."""
    import rzero.run.launch
    from rzero.cli import DEFAULT_CONFIG
    from rzero.config.load import load_config
    from rzero.core.rundir import RunDir

    folder = run_dir(tmp_path)
    lock = str((folder / LOCK_NAME).resolve())
    probe = f"import os; print('holds the lock:', any(os.readlink(f'/proc/self/fd/{{n}}') == {lock!r} "
    probe += "for n in os.listdir('/proc/self/fd') if os.path.exists(f'/proc/self/fd/{n}')))"
    monkeypatch.setattr(rzero.run.launch, "stage_command", lambda *args: [sys.executable, "-c", probe])
    cfg = load_config(DEFAULT_CONFIG, ["launch.mode=subprocess"])
    with run_lock(folder):
        rzero.run.launch.launch_stage(cfg, RunDir(folder), 0, "evaluate")
    assert "holds the lock: True" in (folder / "iter_00" / "evaluate.launch.log").read_text()
