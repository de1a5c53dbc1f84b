"""Several nodes: `rzero worker --run DIR --machine-rank R` on every node but the first.

`rzero run` on node 0 drives the loop as usual. Before it launches a GRPO phase under a multi-node
accelerate config it writes `iter_KK/<stage>.launch.json` (the command and the URLs of the servers it
started) into the run directory, which must be on a file system every node sees; it removes the file
when the phase ends. A worker polls for such files and runs the same command with its own
`--machine_rank`, so that accelerate's rendezvous finds all machines. It exits when the run has
finished (the last evaluation is done) or stopped. Non-GRPO stages run on node 0 only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rzero.run.launch import ACCELERATE_MODULE, LAUNCH_SUFFIX


def command_for_rank(command: list[str], machine_rank: int) -> list[str]:
    """The launch command of node 0 as this node runs it: this interpreter, this machine rank."""
    if ACCELERATE_MODULE not in command:
        raise ValueError(f"not an accelerate launch command: {command}")
    at = command.index(ACCELERATE_MODULE) + 1
    return [sys.executable, *command[1:at], "--machine_rank", str(machine_rank), *command[at:]]


def finished(root: Path) -> bool:
    """The run ended: its last evaluation is done, or the loop recorded a stop."""
    import yaml

    from rzero.core.rundir import RunDir

    run = RunDir(root)
    iterations = yaml.safe_load(run.config_path.read_text())["iterations"]
    if run.is_done(iterations, "evaluate"):
        return True
    if run.summary_path.exists():
        summary = json.loads(run.summary_path.read_text())
        return "stopped" in summary or "stopped_early" in summary
    return False


def follow(root: str | Path, machine_rank: int, poll_s: float = 2.0, log=print) -> int:
    """Join every multi-node GRPO phase of the run in `root` until the run ends; returns the number
    of phases joined. Waits for node 0 to create the run directory first."""
    root = Path(root)
    while not (root / "config.yaml").exists():
        time.sleep(poll_s)
    joined: set[tuple[str, float]] = set()
    while not finished(root):
        for path in sorted(root.glob(f"iter_*/*{LAUNCH_SUFFIX}")):
            try:
                launch = json.loads(path.read_text())
            except (OSError, ValueError):  # removed or being written: next poll
                continue
            key = (path.name, launch["written"])
            if key in joined:
                continue
            joined.add(key)
            log(f"rzero worker: machine {machine_rank} joins {path.parent.name} {path.name[: -len(LAUNCH_SUFFIX)]}")
            log_path = path.with_name(path.name.replace(LAUNCH_SUFFIX, f".machine{machine_rank}.log"))
            with open(log_path, "a", encoding="utf-8") as handle:
                done = subprocess.run(
                    command_for_rank(launch["command"], machine_rank),
                    env={**os.environ, **launch["env"]},
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
            log(f"rzero worker: exit code {done.returncode} (log {log_path})")
        time.sleep(poll_s)
    return len(joined)
