"""Several machines that share a run directory: who is there, who is alive, how each phase ended.

`rzero run` on node 0 and `rzero worker` on each other machine write a heartbeat file in RUN/cluster/
(`machine0.json` for node 0, `machineR.json` for worker R) every HEARTBEAT_S seconds, with a counter that
goes up each time. A node is alive while the counter it writes keeps moving as seen by the one who reads
it (its own clock only: the machines' clocks need not agree), gone when it has not moved for STALE_S
seconds. Node 0 writes `"state": "ended"` when its run ends in any way it can (a SIGKILL leaves a counter
that stops). A worker writes the exit code of every phase it joined beside the phase's log, so that node 0
learns of a failed machine at once instead of waiting out a rendezvous or a collective.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from rzero.config.accelerate import read_accelerate
from rzero.config.schema import ConfigError, RunConfig
from rzero.core.rundir import RunDir, atomic_write_json

HEARTBEAT_S = 2.0  # how often a node writes its heartbeat
STALE_S = 30.0  # a heartbeat that has not moved for this long: the node is gone
READY_S = 60.0  # how long node 0 waits for every worker before its first stage


def machines(cfg: RunConfig) -> int:
    """The machines a GRPO phase runs on: the accelerate config's num_machines (1 when not accelerate)."""
    if cfg.launch.mode != "accelerate":
        return 1
    try:
        return read_accelerate(cfg.launch.accelerate_config).machines
    except ValueError:
        return 1


def heartbeat_path(root: Path, machine: int) -> Path:
    return Path(root) / "cluster" / f"machine{machine}.json"


def exit_path(run: RunDir, k: int, name: str, machine: int) -> Path:
    """Where worker `machine` writes how its part of stage `name` of iteration k ended."""
    return run.iteration(k) / f"{name}.machine{machine}.exit.json"


def machine_log(run: RunDir, k: int, name: str, machine: int) -> Path:
    """The log of worker `machine`'s part of stage `name` of iteration k."""
    return run.iteration(k) / f"{name}.machine{machine}.log"


def read_json(path: Path) -> dict | None:
    """The JSON object in `path`, or None while it is missing, being replaced or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Heartbeat:
    """Writes `machine`'s heartbeat file every HEARTBEAT_S seconds from a thread, while in a `with` block:
    its counter, its state ("running", or what `end` sets), host and pid, and what `note` adds."""

    def __init__(self, root: Path, machine: int):
        self.path, self.count, self.fields = heartbeat_path(root, machine), 0, {"state": "running"}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"rzero-heartbeat-{machine}", daemon=True)

    def write(self) -> None:
        self.count += 1
        record = {"count": self.count, "host": socket.gethostname(), "pid": os.getpid(), **self.fields}
        atomic_write_json(self.path, record)

    def note(self, **fields) -> None:
        self.fields.update(fields)
        self.write()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.write()

    def __enter__(self) -> Heartbeat:
        self.write()
        self._thread.start()
        return self

    def __exit__(self, kind, error, trace) -> None:
        self._stop.set()
        self._thread.join()
        reason = "finished" if kind is None else f"{kind.__name__}: {error}"[:300]
        self.note(state="ended", reason=reason)


class Watch:
    """Reads another node's heartbeat and tells whether it is alive by this process's clock: seen (it has
    written at least once since the watch began), alive (its counter moved within STALE_S), its state."""

    def __init__(self, root: Path, machine: int, stale_s: float | None = None):
        self.path, self.stale_s = heartbeat_path(root, machine), STALE_S if stale_s is None else stale_s
        first = read_json(self.path) or {}
        self.first_count, self.count, self.moved_at = first.get("count"), first.get("count"), time.monotonic()
        self.seen = False  # its counter moved while watched: a live node, not a file left by an earlier one
        self.record: dict = first

    def poll(self) -> Watch:
        record = read_json(self.path)
        if record is not None and record.get("count") != self.count:
            self.count, self.moved_at, self.record, self.seen = record.get("count"), time.monotonic(), record, True
        return self

    @property
    def alive(self) -> bool:
        return self.seen and self.record.get("state") == "running" and time.monotonic() - self.moved_at < self.stale_s

    @property
    def ended(self) -> bool:
        """It said it ended, or it stopped beating, after it was seen alive."""
        if not self.seen:
            return False
        return self.record.get("state") != "running" or time.monotonic() - self.moved_at >= self.stale_s


def wait_for_workers(root: Path, count: int, timeout_s: float | None = None, poll_s: float = 0.5) -> None:
    """Return once every worker 1..count-1 beats (its counter moves while node 0 watches); a ConfigError
    naming the first that does not within `timeout_s`: not started, or not seeing this run directory."""
    timeout_s = READY_S if timeout_s is None else timeout_s
    watches = {machine: Watch(root, machine) for machine in range(1, count)}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(watch.poll().alive for watch in watches.values()):
            return
        time.sleep(poll_s)
    missing = next(machine for machine, watch in watches.items() if not watch.alive)
    raise ConfigError(
        f"machine {missing} of {count} has not joined within {timeout_s:.0f} s (no heartbeat in "
        f"{heartbeat_path(root, missing)}): start `rzero worker --run {Path(root).resolve()} --machine-rank "
        f"{missing}` on it, with this run directory on a file system both machines see"
    )
