"""The R-Zero iteration: Challenger -> curriculum -> Solver -> evaluation, K times, resumable.

Iteration 0 evaluates the base model. In iteration k the Challenger C(k-1) is trained against the
frozen Solver S(k-1); the trained C(k) samples the question pool; S(k-1) labels it (pseudo-labels
come from the pre-update Solver, as in the paper); S(k) is trained on the band; S(k) is evaluated.
Both models carry their weights into iteration k+1. Stages talk only through paths and values
passed here; each writes its folder and a DONE marker, and `resume=True` skips finished stages.
"""

from __future__ import annotations

import time
from pathlib import Path

from rzero.config import ConfigError, RunConfig, dump_yaml, to_dict
from rzero.domains import get_domain
from rzero.rundir import RunDir, atomic_write_json, atomic_write_text, read_jsonl, write_jsonl


def _generator(path: Path, cfg: RunConfig, seed_offset: int, label: str):
    from rzero.generation import HFGenerator

    seed = cfg.seed * 1000 + seed_offset
    return HFGenerator.from_pretrained(path, device=cfg.model.device, seed=seed, label=label)


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


def run(cfg: RunConfig, out: str | Path, resume: bool = False, log=print) -> dict:
    """Run (or resume) the whole loop in `out`; returns the summary that is also in summary.json."""
    from rzero.challenger import train_challenger
    from rzero.curriculum import build_curriculum, solver_rows
    from rzero.evaluate import evaluate_model
    from rzero.generation import embedded_base_path, set_threads
    from rzero.solver import train_solver

    run_dir = RunDir(out)
    _check_resume(run_dir, cfg, resume)
    atomic_write_text(run_dir.config_path, dump_yaml(cfg))
    set_threads(cfg.model.threads)
    domain = get_domain(cfg.domain)
    base = embedded_base_path() if cfg.model.path == "embedded" else Path(cfg.model.path)
    c_cfg, s_cfg = cfg.challenger, cfg.solver
    started = time.time()

    def stage(k: int, name: str, body) -> dict:
        if run_dir.is_done(k, name):
            log(f"iteration {k} {name}: done earlier, skipped")
            return run_dir.done_info(k, name)
        folder = run_dir.begin(k, name)
        t0 = time.time()
        metrics = body(folder)
        metrics.setdefault("seconds", round(time.time() - t0, 1))
        run_dir.mark_done(k, name, metrics)
        log(f"iteration {k} {name}: {metrics['seconds']:.0f}s")
        return metrics

    def evaluate(k: int, model: Path, curriculum: list[dict]) -> dict:
        return stage(
            k,
            "evaluate",
            lambda folder: evaluate_model(
                _generator(model, cfg, 4 * k, f"iter {k} evaluate"), domain, cfg.eval, curriculum, folder
            ),
        )

    summary = {"config": to_dict(cfg), "iterations": [{"iteration": 0, "evaluate": evaluate(0, base, [])}]}
    challenger, solver = base, base
    for k in range(1, cfg.iterations + 1):

        def challenger_body(folder: Path, k=k, challenger=challenger, solver=solver) -> dict:
            if not c_cfg.train:
                return {"trained": False}
            records, metrics = train_challenger(
                challenger,
                _generator(solver, cfg, 4 * k + 1, f"iter {k} solver votes"),
                domain,
                c_cfg,
                folder,
                s_cfg.max_new_tokens,
                cfg.seed + k,
                cfg.model.device,
            )
            write_jsonl(folder / "questions.jsonl", records)
            return {"trained": True, **metrics}

        c_metrics = stage(k, "challenger", challenger_body)
        new_challenger = run_dir.stage(k, "challenger") / "model" if c_metrics.get("trained") else challenger

        def curriculum_body(folder: Path, k=k, new_challenger=new_challenger, solver=solver) -> dict:
            rows, kept, metrics = build_curriculum(
                _generator(new_challenger, cfg, 4 * k + 2, f"iter {k} question pool"),
                _generator(solver, cfg, 4 * k + 3, f"iter {k} pseudo-labels"),
                domain,
                cfg.curriculum,
                c_cfg.max_new_tokens,
                s_cfg.max_new_tokens,
            )
            write_jsonl(folder / "pool.jsonl", rows)
            write_jsonl(folder / "curriculum.jsonl", kept)
            return metrics

        cur_metrics = stage(k, "curriculum", curriculum_body)
        curriculum = read_jsonl(run_dir.stage(k, "curriculum") / "curriculum.jsonl")

        def solver_body(folder: Path, k=k, solver=solver, curriculum=curriculum) -> dict:
            records, metrics = train_solver(
                solver, solver_rows(curriculum), domain, s_cfg, folder, cfg.seed + k, cfg.model.device
            )
            write_jsonl(folder / "rollouts.jsonl", records)
            return metrics

        sol_metrics = stage(k, "solver", solver_body)
        challenger, solver = new_challenger, run_dir.stage(k, "solver") / "model"
        summary["iterations"].append(
            {
                "iteration": k,
                "challenger": c_metrics,
                "curriculum": cur_metrics,
                "solver": sol_metrics,
                "evaluate": evaluate(k, solver, curriculum),
            }
        )
        atomic_write_json(run_dir.summary_path, summary)
    summary["wall_seconds_this_invocation"] = round(time.time() - started, 1)
    atomic_write_json(run_dir.summary_path, summary)
    return summary
