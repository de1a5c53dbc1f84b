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

from rzero import challenger as challenger_stage
from rzero import curriculum as curriculum_stage
from rzero import drift
from rzero import evaluate as evaluate_stage
from rzero import solver as solver_stage
from rzero.config import ConfigError, RunConfig, dump_yaml, preflight, to_dict
from rzero.domains import Domain, get_domain
from rzero.grpo import PhaseFailed
from rzero.metrics import MetricsSink, write_metrics_jsonl
from rzero.probe import load_probe, probe_figures
from rzero.rundir import RunDir, atomic_write_json, atomic_write_text, read_jsonl, write_jsonl


def _generator(path: Path, cfg: RunConfig, seed_offset: int, label: str):
    from rzero.generation import HFGenerator

    seed = cfg.seed * 1000 + seed_offset
    return HFGenerator.from_pretrained(path, device=cfg.model.device, seed=seed, label=label)


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


def _challenger(cfg: RunConfig, domain: Domain, k: int, challenger: Path, solver: Path, folder: Path) -> dict:
    """C(k-1) -> C(k), rewarded through the frozen S(k-1)."""
    if not cfg.challenger.train:
        return {"trained": False}
    records, metrics = challenger_stage.train_challenger(
        challenger,
        _generator(solver, cfg, 4 * k + 1, f"iter {k} solver votes"),
        domain,
        cfg.challenger,
        folder,
        cfg.solver.max_new_tokens,
        cfg.seed + k,
        cfg.model.device,
    )
    write_jsonl(folder / "questions.jsonl", records)
    return {"trained": True, **metrics}


def _curriculum(cfg: RunConfig, domain: Domain, k: int, challenger: Path, solver: Path, folder: Path) -> dict:
    """C(k) poses the pool, the pre-update S(k-1) labels it, the band is kept."""
    rows, kept, metrics = curriculum_stage.build_curriculum(
        _generator(challenger, cfg, 4 * k + 2, f"iter {k} question pool"),
        _generator(solver, cfg, 4 * k + 3, f"iter {k} pseudo-labels"),
        domain,
        cfg.curriculum,
        cfg.challenger.max_new_tokens,
        cfg.solver.max_new_tokens,
    )
    write_jsonl(folder / "pool.jsonl", rows)
    write_jsonl(folder / "curriculum.jsonl", kept)
    if cfg.eval.probe_file:  # evaluation only: the same votes on labelled questions, never a curriculum
        pairs = load_probe(cfg.eval.probe_file, cfg.eval.probe_questions)
        solver_votes = _generator(solver, cfg, 4 * k + 3, f"iter {k} probe votes")
        probe_rows = curriculum_stage.label_questions(
            solver_votes, domain, [q for q, _ in pairs], cfg.curriculum, cfg.solver.max_new_tokens
        )
        metrics.update(probe_figures(probe_rows, [a for _, a in pairs], domain.equivalent))
        write_jsonl(folder / "probe.jsonl", probe_rows)
    return metrics


def _solver(cfg: RunConfig, domain: Domain, k: int, solver: Path, curriculum: list[dict], folder: Path) -> dict:
    """S(k-1) -> S(k) on the curriculum's questions and pseudo-labels (oracle fields stripped).
    An empty curriculum skips training: S(k) is S(k-1), and the DONE info says why."""
    rows = curriculum_stage.solver_rows(curriculum)
    records, metrics = solver_stage.train_solver(
        solver, rows, domain, cfg.solver, folder, cfg.seed + k, cfg.model.device
    )
    write_jsonl(folder / "rollouts.jsonl", records)
    return metrics


def _evaluate(cfg: RunConfig, domain: Domain, k: int, model: Path, curriculum: list[dict], folder: Path) -> dict:
    generator = _generator(model, cfg, 4 * k, f"iter {k} evaluate")
    return evaluate_stage.evaluate_model(generator, domain, cfg.eval, curriculum, folder)


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
    from rzero.generation import embedded_base_path, set_threads

    preflight(cfg, out)
    run_dir = RunDir(out)
    _check_resume(run_dir, cfg, resume)
    run_dir.remove_temporaries()
    atomic_write_text(run_dir.config_path, dump_yaml(cfg))
    set_threads(cfg.model.threads)
    domain = get_domain(cfg.domain)
    sink = MetricsSink(run_dir.root, to_dict(cfg))
    started = time.time()

    def stage(k: int, name: str, body, *args) -> dict:
        if run_dir.is_done(k, name):
            log(f"iteration {k} {name}: done earlier, skipped")
            return run_dir.done_info(k, name)
        folder = run_dir.begin(k, name)
        t0 = time.time()
        metrics = body(cfg, domain, k, *args, folder)
        metrics.setdefault("seconds", round(time.time() - t0, 1))
        run_dir.mark_done(k, name, metrics)
        train_log = folder / "train_log.jsonl"
        sink.stage(k, name, metrics, read_jsonl(train_log) if train_log.exists() else None)
        write_metrics_jsonl(run_dir, cfg.iterations)
        log(f"iteration {k} {name}: {metrics['seconds']:.0f}s")
        return metrics

    challenger = solver = embedded_base_path() if cfg.model.path == "embedded" else Path(cfg.model.path)
    entry = {"iteration": 0, "evaluate": stage(0, "evaluate", _evaluate, solver, [])}
    summary = {"config": to_dict(cfg), "iterations": [entry]}
    log(iteration_line(entry, time.time() - started))
    for k in range(1, cfg.iterations + 1):
        try:  # a phase that produces NaN weights stops the run; its stage has no DONE marker
            entry = {"iteration": k, "challenger": stage(k, "challenger", _challenger, challenger, solver)}
            if entry["challenger"].get("trained"):
                challenger = run_dir.stage(k, "challenger") / "model"
            entry["curriculum"] = stage(k, "curriculum", _curriculum, challenger, solver)
            curriculum = read_jsonl(run_dir.stage(k, "curriculum") / "curriculum.jsonl")
            entry["solver"] = stage(k, "solver", _solver, solver, curriculum)
            solver = run_dir.stage(k, "solver") / "model"
            entry["evaluate"] = stage(k, "evaluate", _evaluate, solver, curriculum)
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
