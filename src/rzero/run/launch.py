"""Running a stage as its own process: `rzero stage`, under `accelerate launch` for the GRPO phases.

launch.mode=subprocess gives every stage its own process, so that its memory (GPU memory included)
is freed when it ends; launch.mode=accelerate runs the two GRPO phases under `accelerate launch
--config_file launch.accelerate_config` (several GPUs or nodes). The servers a stage needs are
started here, in the parent, so that every rank of the stage reaches the same ones: their URLs go to
the stage process in its environment. With a multi-node accelerate config the launch command is
also written to `iter_KK/<stage>.launch.json` for `rzero worker` on the other nodes (`rzero.run.worker`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rzero.config.devices import device_count, stage_devices
from rzero.config.schema import RunConfig
from rzero.core.records import GRPO_STAGES, STAGE_METRICS, PhaseFailed, StageMetrics, from_json
from rzero.core.rundir import RunDir, atomic_write_json
from rzero.engines.processes import stop_group
from rzero.run import cluster
from rzero.run.cluster import Watch, exit_path, machine_log, machines, read_json
from rzero.run.runlock import inherited_fds
from rzero.run.servers import server_log, server_specs, stage_servers

STAGE_FAILED = 3  # exit code of `rzero stage` when a phase produced NaN weights (PhaseFailed)
ACCELERATE_MODULE = "accelerate.commands.launch"
LAUNCH_SUFFIX = ".launch.json"


def launch_file(root: Path, k: int, name: str) -> Path:
    """Where node 0 publishes the launch command of stage `name` of iteration k for the workers."""
    return RunDir(root).iteration(k) / f"{name}{LAUNCH_SUFFIX}"


def stage_log(run: RunDir, k: int, name: str) -> Path:
    """The log file of stage `name` of iteration k when it runs as its own process."""
    return run.iteration(k) / f"{name}.launch.log"


def stage_logs(cfg: RunConfig, run: RunDir, k: int, name: str) -> list[Path]:
    """The files where stage `name` of iteration k writes its output other than the terminal: its own
    process's log (launch.mode subprocess or accelerate), and each server's it starts."""
    own = [stage_log(run, k, name)] if cfg.launch.mode != "inprocess" else []
    return own + [server_log(run, k, name, variable) for variable in server_specs(cfg, run, k, name)]


def stage_command(cfg: RunConfig, run: RunDir, k: int, name: str) -> list[str]:
    """The command line of stage `name` of iteration k: `rzero stage`, or for a GRPO phase with
    launch.mode=accelerate, the same under `accelerate launch` (fewer processes when the frozen
    Solver's server takes some of launch.train_devices)."""
    root = str(run.root.resolve())  # absolute paths: workers on other nodes run the same command
    stage = ["-m", "rzero.cli", "stage", name, "--run", root, "--iteration", str(k)]
    if cfg.launch.mode != "accelerate" or name not in GRPO_STAGES:
        return [sys.executable, *stage]
    config_file = str(Path(cfg.launch.accelerate_config).resolve())
    accelerate = [sys.executable, "-m", ACCELERATE_MODULE, "--config_file", config_file]
    devices = stage_devices(cfg, name)
    if devices != cfg.launch.train_devices:  # on every machine: num_processes counts them all
        accelerate += ["--num_processes", str(device_count(devices) * machines(cfg))]
    if cfg.launch.main_process_ip:  # node 0's address from the command line (a SLURM allocation's head node)
        accelerate += ["--main_process_ip", cfg.launch.main_process_ip]
    if cfg.launch.main_process_port:
        accelerate += ["--main_process_port", str(cfg.launch.main_process_port)]
    return accelerate + stage


def launch_stage(cfg: RunConfig, run: RunDir, k: int, name: str) -> StageMetrics:
    """Run one stage as its own process; its output goes to the iteration's `<stage>.launch.log`.
    Returns the stage's metrics (its DONE marker); raises PhaseFailed when the phase produced NaN
    weights, StageFailed on any other failure (naming the machine and its log when another machine of
    a multi-node phase failed or stopped answering)."""
    command = stage_command(cfg, run, k, name)
    devices = stage_devices(cfg, name)
    log_file = stage_log(run, k, name)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with stage_servers(cfg, run, k, name) as urls, open(log_file, "a", encoding="utf-8") as handle:
        env = {**os.environ, **urls}
        if devices:
            env["CUDA_VISIBLE_DEVICES"] = devices
        shared = launch_file(run.root, k, name) if ACCELERATE_MODULE in command else None
        launch_id = time.time()
        if shared:  # for `rzero worker` on the other nodes: the same command, servers and GPUs
            visible = {"CUDA_VISIBLE_DEVICES": devices} if devices else {}
            atomic_write_json(shared, {"command": command, "env": {**urls, **visible}, "written": launch_id})
        try:
            # the stage shares the run directory's lock: a stage that outlives a killed parent keeps it
            process = subprocess.Popen(
                command, stdout=handle, stderr=subprocess.STDOUT, env=env, pass_fds=inherited_fds(run.root),
                start_new_session=True,
            )  # fmt: skip
            returncode = _wait(process, run, k, name, machines(cfg) if shared else 1, launch_id)
        finally:
            if shared:
                shared.unlink(missing_ok=True)
    if returncode == STAGE_FAILED:
        raise PhaseFailed(log_file.read_text(errors="replace").strip().splitlines()[-1])
    if returncode != 0 or not run.is_done(k, name):
        raise StageFailed(f"stage {name} of iteration {k} failed (exit code {returncode}); see {log_file}")
    return from_json(STAGE_METRICS[name], run.done_info(k, name))


class StageFailed(RuntimeError):
    """A stage process failed, or another machine of its phase did; the message names the log to read."""


def _wait(process: subprocess.Popen, run: RunDir, k: int, name: str, count: int, launch_id: float) -> int:
    """The stage process's exit code. With other machines (`count` > 1) it watches them while it waits: one
    whose part failed, or whose heartbeat has stopped for STALE_S seconds, ends node 0's part at once (its
    process group stopped) with a StageFailed naming the machine and its log; so does node 0's own part
    failing shortly after a machine went silent (the collective broke when that machine died). An interrupt
    stops the process group too."""
    watches = {machine: Watch(run.root, machine) for machine in range(1, count)}
    try:
        while process.poll() is None:
            failed = _failed_machine(watches, run, k, name, launch_id, cluster.STALE_S)
            if failed:
                raise StageFailed(failed)
            time.sleep(0.5 if count > 1 else 0.2)
        for _ in range(int(3 * cluster.HEARTBEAT_S / 0.5) if process.returncode and watches else 0):
            failed = _failed_machine(watches, run, k, name, launch_id, 2.5 * cluster.HEARTBEAT_S)
            if failed:
                raise StageFailed(failed)
            time.sleep(0.5)
    except BaseException:
        stop_group(process)
        raise
    return process.returncode


def _failed_machine(watches: dict[int, Watch], run: RunDir, k: int, name: str, launch_id: float, silent_s: float):
    """The line that names the first machine whose part of this launch failed (its exit file) or whose
    heartbeat has not moved for `silent_s` seconds, with its log; None while all are well."""
    for machine, watch in watches.items():
        watch.poll()
        ended = read_json(exit_path(run, k, name, machine)) or {}
        if ended.get("launch") == launch_id and ended.get("returncode") != 0:
            why = f"exited with code {ended.get('returncode')}"
        elif time.monotonic() - watch.moved_at >= silent_s:
            why = f"stopped answering (no heartbeat for {silent_s:.0f} s)"
        else:
            continue
        return f"machine {machine} {why} in iteration {k} {name}; see {machine_log(run, k, name, machine)}"
    return None
