"""The servers a stage needs, started for it and stopped after it: the frozen Solver as a vLLM server
(challenger.solver_server_devices) during the Challenger phase, TRL's `trl vllm-serve` for each GRPO
phase (model.vllm_mode=server). Each on a free port and its configured devices, health-checked, with
its own log in the iteration's folder; their URLs go to the stage in its environment."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

from rzero.config.devices import device_count
from rzero.config.schema import RunConfig
from rzero.core.rundir import RunDir
from rzero.engines.processes import free_port
from rzero.engines.remote import SOLVER_URL_ENV, TRL_VLLM_URL_ENV, ManagedServer, trl_vllm_serve_argv, vllm_serve_argv
from rzero.run.inputs import challenger_after, solver_before


def server_log(run: RunDir, k: int, name: str, variable: str) -> Path:
    """The log file of the server that environment variable `variable` points stage `name` at."""
    return run.iteration(k) / f"{name}.{variable.lower()}.log"


def server_specs(cfg: RunConfig, run: RunDir, k: int, name: str) -> dict[str, tuple]:
    """{environment variable: (command of a port, devices)} of the servers stage `name`
    of iteration k needs: the frozen Solver's `vllm serve` for the Challenger phase
    (challenger.solver_server_devices), a `trl vllm-serve` of the phase's starting model for each
    GRPO phase (model.vllm_mode=server)."""
    specs = {}
    trains = name == "solver" or (name == "challenger" and cfg.challenger.train)
    if name == "challenger" and cfg.challenger.train and cfg.challenger.solver_server_devices:
        devices = cfg.challenger.solver_server_devices
        host = cfg.launch.server_host
        if devices == "cpu":  # the CPU form: no GPU visible, a KV cache of host memory
            command = partial(
                vllm_serve_argv, solver_before(run, cfg, k), host=host, cpu_kv_cache_gib=cfg.model.vllm_kv_cache_gib
            )
            devices = ""
        else:
            command = partial(vllm_serve_argv, solver_before(run, cfg, k), gpus=device_count(devices), host=host)
        specs[SOLVER_URL_ENV] = (command, devices)
    if trains and cfg.model.vllm and cfg.model.vllm_mode == "server":
        start = challenger_after(run, cfg, k - 1) if name == "challenger" else solver_before(run, cfg, k)
        devices = cfg.model.vllm_server_devices
        specs[TRL_VLLM_URL_ENV] = (partial(trl_vllm_serve_argv, start, gpus=device_count(devices)), devices)
    return specs


@contextmanager
def stage_servers(cfg: RunConfig, run: RunDir, k: int, name: str) -> Iterator[dict[str, str]]:
    """Start (on a free port, on their configured GPUs) and health-check the servers stage `name`
    needs, yield their URLs ({environment variable: URL}), and stop them when the stage ends. A URL
    already in the environment means a parent process started the server (`rzero.run.launch` passes its
    URLs to a stage process that way). With launch.server_host=0.0.0.0 (several nodes) the URL
    carries this node's host name."""
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        for variable, (command, devices) in server_specs(cfg, run, k, name).items():
            if os.environ.get(variable):
                urls[variable] = os.environ[variable]
                continue
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # one server per rank would be wrong
                raise RuntimeError(f"{variable} is unset in a multi-process stage: launch stages with `rzero run`")
            port = free_port()
            log = server_log(run, k, name, variable)
            log.parent.mkdir(parents=True, exist_ok=True)
            env = {"CUDA_VISIBLE_DEVICES": devices}
            host = cfg.launch.server_host if variable == SOLVER_URL_ENV else "127.0.0.1"
            server = ManagedServer(command(port=port), port, env=env, log_file=log, host=host)
            stack.enter_context(server)
            urls[variable] = f"http://{socket.gethostname()}:{port}" if host == "0.0.0.0" else server.url
        yield urls
