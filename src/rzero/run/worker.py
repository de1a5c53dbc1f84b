"""Several nodes: `rzero worker --run DIR --machine-rank R` on every node but the first.

`rzero run` on node 0 drives the loop as usual. Before it launches a GRPO phase under a multi-node
accelerate config it writes `iter_KK/<stage>.launch.json` (the command and the URLs of the servers it
started) into the run directory, which must be on a file system every node sees; it removes the file
when the phase ends. A worker runs each such command with its own `--machine_rank`, so that
accelerate's rendezvous finds all machines, and writes how its part ended beside its log
(`iter_KK/<stage>.machineR.exit.json`), where node 0 reads it. Both beat (`rzero.run.cluster`): node 0
waits for every worker before its first stage and stops a phase at once when a worker's part fails or
its heartbeat stops; a worker waits a bounded time for node 0's run to start, stops its part of a phase
when node 0 stops beating, and leaves when node 0's run ends in any way (finished, stopped, crashed,
killed). A worker started before a `--resume` waits for it: only node 0's live heartbeat counts, never an
earlier run's records. Non-GRPO stages run on node 0 only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rzero.config.load import load_config
from rzero.core.rundir import RunDir, atomic_write_json
from rzero.engines.processes import die_with_parent, stop_group
from rzero.run.cluster import Heartbeat, Watch, exit_path, heartbeat_path, machine_log, machines, read_json
from rzero.run.launch import ACCELERATE_MODULE, LAUNCH_SUFFIX


class WorkerError(RuntimeError):
    """The worker cannot take part: node 0's run did not start, or this machine rank is not in it."""


def command_for_rank(command: list[str], machine_rank: int) -> list[str]:
    """The launch command of node 0 as this node runs it: this interpreter, this machine rank."""
    if ACCELERATE_MODULE not in command:
        raise ValueError(f"not an accelerate launch command: {command}")
    at = command.index(ACCELERATE_MODULE) + 1
    return [sys.executable, *command[1:at], "--machine_rank", str(machine_rank), *command[at:]]


def follow(root: str | Path, machine_rank: int, poll_s: float = 2.0, wait_s: float = 600.0, log=print) -> int:
    """Join every multi-node GRPO phase of node 0's run in `root` until that run ends; returns the number
    of phases joined. WorkerError when node 0's run does not beat within `wait_s` seconds or has fewer
    machines than `machine_rank` + 1."""
    root = Path(root)
    with Heartbeat(root, machine_rank):
        node0 = Watch(root, 0)
        deadline = time.monotonic() + wait_s
        while not node0.poll().alive:  # an earlier run's file does not count: its counter must move
            if time.monotonic() > deadline:
                raise WorkerError(
                    f"no run of node 0 in {root} within {wait_s:.0f} s (no heartbeat in {heartbeat_path(root, 0)}): "
                    "start `rzero run` there, or check that this machine sees the same run directory"
                )
            time.sleep(poll_s)
        count = machines(load_config(RunDir(root).config_path))
        if machine_rank >= count:
            raise WorkerError(f"--machine-rank {machine_rank}: the run's accelerate config has {count} machines")
        joined: set[tuple[str, float]] = set()
        while not node0.poll().ended:
            for path in sorted(root.glob(f"iter_*/*{LAUNCH_SUFFIX}")):
                launch = read_json(path)
                if launch is None or (path.name, launch["written"]) in joined:
                    continue  # removed, being written, or joined already
                joined.add((path.name, launch["written"]))
                _join(RunDir(root), path, launch, machine_rank, node0, log)
            time.sleep(poll_s)
    log(f"rzero worker: node 0's run ended ({node0.record.get('reason', 'no heartbeat')})")
    return len(joined)


def _join(run: RunDir, path: Path, launch: dict, machine_rank: int, node0: Watch, log) -> None:
    """Run this machine's part of one published phase (stopped when node 0 stops beating) and write how it
    ended for node 0."""
    k, name = int(path.parent.name.removeprefix("iter_")), path.name[: -len(LAUNCH_SUFFIX)]
    log_path = machine_log(run, k, name, machine_rank)
    log(f"rzero worker: machine {machine_rank} joins iteration {k} {name}; its output in {log_path}")
    with open(log_path, "a", encoding="utf-8") as handle:
        process = subprocess.Popen(
            command_for_rank(launch["command"], machine_rank),
            env={**os.environ, **launch["env"]},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - a killed worker leaves no rank behind
        )
        try:
            while process.poll() is None:
                if node0.poll().ended:
                    log(f"rzero worker: node 0 stopped beating; stopping this machine's part of {name}")
                    break
                time.sleep(0.5)
        finally:
            stop_group(process, grace_s=10.0)
    atomic_write_json(
        exit_path(run, k, name, machine_rank), {"launch": launch["written"], "returncode": process.returncode}
    )
    log(f"rzero worker: iteration {k} {name} ended with exit code {process.returncode}")
