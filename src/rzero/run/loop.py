"""The R-Zero iteration: Challenger -> curriculum -> Solver -> evaluation, K times, resumable.

Iteration 0 evaluates the base model. In iteration k the Challenger C(k-1) is trained against the
frozen Solver S(k-1); the trained C(k) samples the question pool; S(k-1) labels it (pseudo-labels
come from the pre-update Solver, as in the paper); S(k) is trained on the band; S(k) is evaluated.
Both models carry their weights into iteration k+1. Stages talk only through paths and values
passed here; each writes its folder and a DONE marker, and `resume=True` skips finished stages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rzero.config.load import dump_yaml, to_dict
from rzero.config.schema import ConfigError, RunConfig
from rzero.core.records import STAGE_METRICS, IterationRecord, PhaseFailed, RunSummary, StageMetrics, from_json
from rzero.core.rundir import RunDir, atomic_write_json, atomic_write_text, read_jsonl
from rzero.engines.generation import set_threads
from rzero.observe import drift
from rzero.observe.metrics import MetricsSink, write_metrics_jsonl
from rzero.plan.preflight import local_model, preflight
from rzero.run.cluster import Heartbeat, machines, wait_for_workers
from rzero.run.inputs import build_domain
from rzero.run.launch import LAUNCH_SUFFIX, launch_stage, stage_logs
from rzero.run.pipeline import run_stage
from rzero.run.runlock import run_lock
from rzero.stages import curriculum as curriculum_stage


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def iteration_line(entry: IterationRecord, elapsed: float) -> str:
    """One line per finished iteration: what the README's demo section shows."""
    cur = entry.curriculum
    parts = [f"iteration {entry.iteration}: held-out greedy {_fmt(entry.evaluate.greedy_accuracy)}"]
    if cur:
        parts += [
            f"pseudo-label acc {_fmt(cur.pseudo_label_accuracy)}",
            f"curriculum {cur.kept}/{cur.labelled} kept"
            + (f" ({cur.heldout_dropped} held-out dropped)" if cur.heldout_dropped else ""),
            f"mean p_hat {_fmt(cur.mean_p_hat)}",
            f"mean difficulty {_fmt(cur.mean_difficulty)}",
        ]
    parts.append(f"elapsed {elapsed / 60:.1f} min")
    return "  ".join(parts)


# Where node 0 is, not what the run computes: a requeued job's allocation may give node 0 another address.
WHERE_NOT_WHAT = {"launch": ("main_process_ip", "main_process_port")}


def _what(config: dict, section: str):
    """A section of a config dict as far as it decides what the run computes."""
    value = config.get(section)
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if key not in WHERE_NOT_WHAT.get(section, ())}
    return value


def _check_resume(run: RunDir, cfg: RunConfig, resume: bool) -> None:
    if not run.config_path.exists():
        return
    if not resume:
        raise ConfigError(f"{run.root} already holds a run; pass --resume to continue it or choose another --out")
    import yaml

    saved = yaml.safe_load(run.config_path.read_text())
    wanted = to_dict(cfg)
    changed = [key for key in wanted if key != "iterations" and _what(saved, key) != _what(wanted, key)]
    if changed:
        raise ConfigError(f"--resume with a different configuration (sections {changed}); use a new --out")
    if wanted["iterations"] < saved.get("iterations", 0):  # more iterations extend a run; fewer would hide some
        raise ConfigError(
            f"--resume with iterations={wanted['iterations']}, fewer than the run's {saved['iterations']}; "
            "raise it to extend the run, or use a new --out"
        )


def phase_warnings(entry: IterationRecord, band: tuple[float, float]) -> list[str]:
    """Degenerate phases of a finished iteration, in words: they do not stop the run."""
    ch, cur, so = entry.challenger, entry.curriculum, entry.solver
    found = []
    if ch and ch.trained and ch.well_formed == 0:
        found.append("the Challenger posed no well-formed question during training: every reward was 0")
    if cur and not cur.kept:
        found.append(f"empty curriculum, Solver not trained: {curriculum_stage.empty_reason(cur, band)}")
    if so and so.trained and so.answered_fraction == 0:
        found.append(
            f"the Solver extracted no answer in any of {so.rollouts} rollouts: every reward was 0, "
            "nothing was learned (check solver.max_new_tokens and the Solver prompt)"
        )
    return found


def run(cfg: RunConfig, out: str | Path, resume: bool = False, log=print) -> RunSummary:
    """Run (or resume) the whole loop in `out`; returns the summary that is also in summary.json.
    Holds the lock of `out` throughout (`runlock`): a second run there stops before writing anything."""
    preflight(cfg, out)  # creates `out`; its write probe leaves no file there
    cfg = local_model(cfg)  # a Hub id in model.path: downloaded now, the run records the local folder
    with run_lock(out) as locked:
        if not locked:
            log(f"warning: {out} is on a file system without locks: nothing stops a second run there")
        return _run_locked(cfg, RunDir(out), resume, log)


def _run_locked(cfg: RunConfig, run_dir: RunDir, resume: bool, log) -> RunSummary:
    """The loop of `run`, once the run directory is checked and locked."""
    _check_resume(run_dir, cfg, resume)
    run_dir.remove_temporaries()
    atomic_write_text(run_dir.config_path, dump_yaml(cfg))
    set_threads(cfg.model.threads)
    with _other_machines(cfg, run_dir, log):
        return _iterations(cfg, run_dir, log)


@contextmanager
def _other_machines(cfg: RunConfig, run_dir: RunDir, log) -> Iterator[None]:
    """With GRPO phases on several machines: the launch files a killed node 0 left are cleared, node 0's
    heartbeat runs while the loop does (the workers leave when it ends, however it ends), and every
    worker is waited for before the first stage (a ConfigError naming the one missing, within 60 s)."""
    count = machines(cfg)
    if count == 1:
        yield
        return
    for stale in run_dir.root.glob(f"iter_*/*{LAUNCH_SUFFIX}"):
        stale.unlink(missing_ok=True)
    with Heartbeat(run_dir.root, 0):
        log(f"waiting for the {count - 1} other machine(s): rzero worker --run {run_dir.root.resolve()} ...")
        wait_for_workers(run_dir.root, count)
        yield


def _iterations(cfg: RunConfig, run_dir: RunDir, log) -> RunSummary:
    """Evaluate S(0), then iterations 1..K, each stage skipped when it is done already."""
    domain = build_domain(cfg)
    sink = MetricsSink(run_dir.root, to_dict(cfg))
    started = time.time()

    def stage(k: int, name: str) -> StageMetrics:
        """Stage `name` of iteration k: skipped when done earlier, else run in this process or its own."""
        if run_dir.is_done(k, name):
            log(f"iteration {k} {name}: done earlier, skipped")
            return from_json(STAGE_METRICS[name], run_dir.done_info(k, name))
        logs = stage_logs(cfg, run_dir, k, name)
        if logs:
            log(f"iteration {k} {name}: started; output in {', '.join(str(path) for path in logs)}")
        if cfg.launch.mode == "inprocess":
            metrics = run_stage(cfg, run_dir, domain, k, name)
        else:
            metrics = launch_stage(cfg, run_dir, k, name)
        train_log = run_dir.stage(k, name) / "train_log.jsonl"
        sink.stage(k, name, metrics.model_dump(), read_jsonl(train_log) if train_log.exists() else None)
        write_metrics_jsonl(run_dir, cfg.iterations)
        log(f"iteration {k} {name}: {metrics.seconds:.0f}s")
        return metrics

    entry = IterationRecord(iteration=0, evaluate=stage(0, "evaluate"))  # the base model
    summary = RunSummary(config=to_dict(cfg), iterations=[entry])
    log(iteration_line(entry, time.time() - started))
    for k in range(1, cfg.iterations + 1):
        try:  # a phase that produces NaN weights stops the run; its stage has no DONE marker
            challenger = stage(k, "challenger")  # 1. GRPO on C(k-1) -> C(k), rewarded by frozen S(k-1)'s votes
            curriculum = stage(k, "curriculum")  # 2. C(k) poses N questions, S(k-1) votes m times, the band is kept
            solver = stage(k, "solver")  # 3. GRPO on S(k-1) -> S(k) against the pseudo-labels
            evaluate = stage(k, "evaluate")  # 4. S(k) on held-out problems (exact answers, evaluation only)
        except PhaseFailed as error:
            summary.stopped = {"iteration": k, "reason": str(error)}
            log(f"error: iteration {k}: {error}")
            break
        entry = IterationRecord(
            iteration=k, evaluate=evaluate, challenger=challenger, curriculum=curriculum, solver=solver
        )
        summary.iterations.append(entry)
        entry.warnings = phase_warnings(entry, cfg.curriculum.band)
        entry.alerts = drift.check(summary.iterations, cfg.monitor)
        atomic_write_json(run_dir.summary_path, summary.model_dump())
        log(iteration_line(entry, time.time() - started))
        for warning in entry.warnings:
            log(f"warning: iteration {k}: {warning}")
        for alert in entry.alerts:
            log(f"warning: iteration {k}: {alert.trigger}: {alert.message}")
        stops = drift.stopping(entry.alerts)  # label-free triggers only: never the held-out accuracy
        if stops and cfg.monitor.early_stop:
            summary.stopped_early = {"iteration": k, "triggers": [a.trigger for a in stops]}
            log(f"monitor.early_stop: stopping after iteration {k}")
            break
    sink.close()
    summary.wall_seconds_this_invocation = round(time.time() - started, 1)
    atomic_write_json(run_dir.summary_path, summary.model_dump())
    return summary
