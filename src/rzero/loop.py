"""The R-Zero iteration: Challenger -> curriculum -> Solver -> evaluation, K times, resumable.

Iteration 0 evaluates the base model. In iteration k the Challenger C(k-1) is trained against the
frozen Solver S(k-1); the trained C(k) samples the question pool; S(k-1) labels it (pseudo-labels
come from the pre-update Solver, as in the paper); S(k) is trained on the band; S(k) is evaluated.
Both models carry their weights into iteration k+1. Stages talk only through paths and values
passed here; each writes its folder and a DONE marker, and `resume=True` skips finished stages.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from rzero import curriculum as curriculum_stage
from rzero import drift
from rzero.config import ConfigError, RunConfig, dump_yaml, to_dict
from rzero.grpo import PhaseFailed
from rzero.metrics import MetricsSink, write_metrics_jsonl
from rzero.pipeline import build_domain, device_count, run_stage, stage_servers
from rzero.preflight import preflight
from rzero.remote import SOLVER_URL_ENV, TRL_VLLM_URL_ENV
from rzero.rundir import RunDir, atomic_write_json, atomic_write_text, read_jsonl
from rzero.worker import ACCELERATE_MODULE, launch_file


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def iteration_line(entry: dict, elapsed: float) -> str:
    """One line per finished iteration: what the README's demo section shows."""
    ev, cur = entry["evaluate"], entry.get("curriculum", {})
    parts = [f"iteration {entry['iteration']}: held-out greedy {_fmt(ev.get('greedy_accuracy'))}"]
    if cur:
        parts += [
            f"pseudo-label acc {_fmt(cur.get('pseudo_label_accuracy'))}",
            f"curriculum {cur.get('kept')}/{cur.get('labelled')} kept",
            f"mean p_hat {_fmt(cur.get('mean_p_hat'))}",
            f"mean difficulty {_fmt(cur.get('mean_difficulty'))}",
        ]
    parts.append(f"elapsed {elapsed / 60:.1f} min")
    return "  ".join(parts)


def _check_resume(run: RunDir, cfg: RunConfig, resume: bool) -> None:
    if not run.config_path.exists():
        return
    if not resume:
        raise ConfigError(f"{run.root} already holds a run; pass --resume to continue it or choose another --out")
    import yaml

    saved = yaml.safe_load(run.config_path.read_text())
    changed = [key for key in to_dict(cfg) if saved.get(key) != to_dict(cfg)[key]]
    if changed:
        raise ConfigError(f"--resume with a different configuration (sections {changed}); use a new --out")


STAGE_FAILED = 3  # exit code of `rzero stage` when a phase produced NaN weights (PhaseFailed)


def stage_devices(cfg: RunConfig, name: str) -> str:
    """CUDA_VISIBLE_DEVICES of a stage process: launch.train_devices, less the GPUs of the frozen
    Solver's server during the Challenger phase ("" = inherit)."""
    server = cfg.challenger.solver_server_devices.split(",") if cfg.challenger.solver_server_devices else []
    if name != "challenger" or not server:
        return cfg.launch.train_devices
    return ",".join(d for d in cfg.launch.train_devices.split(",") if d not in server)


def launch_stage(cfg: RunConfig, run: RunDir, k: int, name: str) -> dict:
    """Run one stage as its own process (`rzero stage`), under `accelerate launch` for the GRPO
    phases when launch.mode is accelerate; its output goes to the stage's launch.log. Servers the
    stage needs are started here, outside its process, so that every rank of it can reach them."""
    import os
    import subprocess
    import sys

    root = str(run.root.resolve())  # absolute paths: workers on other nodes run the same command
    command = [sys.executable, "-m", "rzero.cli", "stage", name, "--run", root, "--iteration", str(k)]
    devices = stage_devices(cfg, name)
    if cfg.launch.mode == "accelerate" and name in ("challenger", "solver"):
        config_file = str(Path(cfg.launch.accelerate_config).resolve())
        accelerate = [sys.executable, "-m", ACCELERATE_MODULE, "--config_file", config_file]
        if devices != cfg.launch.train_devices:  # fewer GPUs than the config names: fewer processes
            accelerate += ["--num_processes", str(device_count(devices))]
        command = accelerate + ["-m", "rzero.cli"] + command[3:]
    log_file = run.root / f"iter_{k:02d}" / f"{name}.launch.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with stage_servers(cfg, run, k, name), open(log_file, "a", encoding="utf-8") as handle:
        env = dict(os.environ)  # with the URLs of the servers just started
        if devices:
            env["CUDA_VISIBLE_DEVICES"] = devices
        shared = launch_file(run.root, k, name) if command[2] == ACCELERATE_MODULE else None
        if shared:  # for `rzero worker` on the other nodes (rzero.worker)
            urls = {key: value for key, value in env.items() if key in (SOLVER_URL_ENV, TRL_VLLM_URL_ENV)}
            atomic_write_json(shared, {"command": command, "env": urls, "written": time.time()})
        try:
            done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        finally:
            if shared:
                shared.unlink(missing_ok=True)
    if done.returncode == STAGE_FAILED:
        raise PhaseFailed(log_file.read_text(errors="replace").strip().splitlines()[-1])
    if done.returncode != 0 or not run.is_done(k, name):
        raise RuntimeError(f"stage {name} of iteration {k} failed (exit code {done.returncode}); see {log_file}")
    return run.done_info(k, name)


def phase_warnings(entry: dict, band_delta: float) -> list[str]:
    """Degenerate phases of a finished iteration, in words: they do not stop the run."""
    ch, cur, so = entry.get("challenger") or {}, entry.get("curriculum") or {}, entry.get("solver") or {}
    found = []
    if ch.get("trained") and ch.get("well_formed") == 0:
        found.append("the Challenger posed no well-formed question during training: every reward was 0")
    if cur and not cur.get("kept"):
        found.append(f"empty curriculum, Solver not trained: {curriculum_stage.empty_reason(cur, band_delta)}")
    if so.get("trained") and so.get("answered_fraction") == 0:
        found.append(
            f"the Solver extracted no answer in any of {so.get('rollouts')} rollouts: every reward was 0, "
            "nothing was learned (check solver.max_new_tokens and the Solver prompt)"
        )
    return found


def run(cfg: RunConfig, out: str | Path, resume: bool = False, log=print) -> dict:
    """Run (or resume) the whole loop in `out`; returns the summary that is also in summary.json."""
    from rzero.generation import set_threads

    preflight(cfg, out)
    run_dir = RunDir(out)
    _check_resume(run_dir, cfg, resume)
    run_dir.remove_temporaries()
    atomic_write_text(run_dir.config_path, dump_yaml(cfg))
    set_threads(cfg.model.threads)
    domain = build_domain(cfg)
    sink = MetricsSink(run_dir.root, to_dict(cfg))
    started = time.time()

    def stage(k: int, name: str) -> dict:
        if run_dir.is_done(k, name):
            log(f"iteration {k} {name}: done earlier, skipped")
            return run_dir.done_info(k, name)
        if cfg.launch.mode == "inprocess":
            metrics = run_stage(cfg, run_dir, domain, k, name)
        else:
            metrics = launch_stage(cfg, run_dir, k, name)
        train_log = run_dir.stage(k, name) / "train_log.jsonl"
        sink.stage(k, name, metrics, read_jsonl(train_log) if train_log.exists() else None)
        write_metrics_jsonl(run_dir, cfg.iterations)
        log(f"iteration {k} {name}: {metrics['seconds']:.0f}s")
        return metrics

    entry = {"iteration": 0, "evaluate": stage(0, "evaluate")}
    summary = {"config": to_dict(cfg), "iterations": [entry]}
    log(iteration_line(entry, time.time() - started))
    for k in range(1, cfg.iterations + 1):
        try:  # a phase that produces NaN weights stops the run; its stage has no DONE marker
            entry = {"iteration": k, **{name: stage(k, name) for name in ("challenger", "curriculum", "solver")}}
            entry["evaluate"] = stage(k, "evaluate")
        except PhaseFailed as error:
            summary["stopped"] = {"iteration": k, "reason": str(error)}
            log(f"error: iteration {k}: {error}")
            break
        summary["iterations"].append(entry)
        entry["warnings"] = phase_warnings(entry, cfg.curriculum.band_delta)
        entry["alerts"] = [asdict(a) for a in drift.check(summary["iterations"], cfg.monitor)]
        atomic_write_json(run_dir.summary_path, summary)
        log(iteration_line(entry, time.time() - started))
        for warning in entry["warnings"]:
            log(f"warning: iteration {k}: {warning}")
        for alert in entry["alerts"]:
            log(f"warning: iteration {k}: {alert['trigger']}: {alert['message']}")
        if entry["alerts"] and cfg.monitor.early_stop:
            summary["stopped_early"] = {"iteration": k, "triggers": [a["trigger"] for a in entry["alerts"]]}
            log(f"monitor.early_stop: stopping after iteration {k}")
            break
    sink.close()
    summary["wall_seconds_this_invocation"] = round(time.time() - started, 1)
    atomic_write_json(run_dir.summary_path, summary)
    return summary
