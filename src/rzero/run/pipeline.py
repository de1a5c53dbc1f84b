"""The stages of one iteration as the loop runs them: inputs resolved from the run directory,
the stage modules called by name with named arguments, artifacts written, the DONE marker set.

Every input of a stage is derived from the run directory and the config alone (`rzero.run.inputs`:
which Challenger and Solver checkpoints are current, which curriculum to train on), so a stage runs the
same in the loop's process, in a subprocess (`rzero stage NAME --run DIR --iteration K`) or under
`accelerate launch`, and after a crash. Its generators come from `rzero.engines.generators`, its servers
from `rzero.run.servers`. The stage modules never import each other; this is the glue between them.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

from rzero.config.schema import RunConfig
from rzero.core.domains import Domain
from rzero.core.records import (
    GRPO_STAGES,
    STAGES,
    ChallengerMetrics,
    CurriculumMetrics,
    CurriculumRow,
    EvaluateMetrics,
    SolverMetrics,
    StageMetrics,
)
from rzero.core.rundir import RunDir, write_jsonl
from rzero.engines import ranks
from rzero.engines.generators import frozen_solver, stage_generator
from rzero.engines.remote import SOLVER_URL_ENV, TRL_VLLM_URL_ENV
from rzero.observe.probe import load_probe, probe_figures
from rzero.run.inputs import challenger_after, heldout_keys, read_curriculum, solver_after, solver_before
from rzero.run.servers import stage_servers
from rzero.stages import challenger as challenger_stage
from rzero.stages import curriculum as curriculum_stage
from rzero.stages import evaluate as evaluate_stage
from rzero.stages import solver as solver_stage


def run_challenger(
    cfg: RunConfig, domain: Domain, k: int, *, challenger: Path, solver: Path, folder: Path, urls: dict[str, str]
) -> ChallengerMetrics:
    """Paper step 1: C(k-1) -> C(k) by GRPO, rewarded through the frozen S(k-1)'s votes."""
    if not cfg.challenger.train:
        return ChallengerMetrics(trained=False)
    with ExitStack() as engines:
        records, metrics = challenger_stage.train_challenger(
            challenger,
            frozen_solver(solver, cfg, k, urls.get(SOLVER_URL_ENV, ""), engines),
            domain,
            cfg.challenger,
            cfg.voting,
            folder,
            cfg.solver.max_new_tokens,
            cfg.seed + k,
            cfg.model,
            vllm_server_url=urls.get(TRL_VLLM_URL_ENV, ""),
            loss=cfg.grpo,
        )
    if ranks.is_main():  # every rank's questions: `records` holds them all
        write_jsonl(folder / "questions.jsonl", records)
    return metrics


def run_curriculum(
    cfg: RunConfig, domain: Domain, k: int, *, challenger: Path, solver: Path, folder: Path
) -> CurriculumMetrics:
    """Paper step 2: C(k) poses the pool, the pre-update S(k-1) votes on it, the band is kept."""
    with ExitStack() as engines:
        solver_votes = stage_generator(solver, cfg, 4 * k + 3, f"iter {k} pseudo-labels", engines, "pair")
        rows, kept, metrics = curriculum_stage.build_curriculum(
            stage_generator(challenger, cfg, 4 * k + 2, f"iter {k} question pool", engines, "pair"),
            solver_votes,
            domain,
            cfg.curriculum,
            cfg.voting,
            cfg.challenger.max_new_tokens,
            cfg.solver.max_new_tokens,
            heldout=heldout_keys(cfg, domain),  # never train on a question the run is scored on
        )
        write_jsonl(folder / "pool.jsonl", [r.model_dump() for r in rows])
        write_jsonl(folder / "curriculum.jsonl", [r.model_dump() for r in kept])
        if cfg.eval.probe_file:  # evaluation only: the same votes on labelled questions, never a curriculum
            pairs = load_probe(cfg.eval.probe_file, cfg.eval.probe_questions)
            probe_rows = curriculum_stage.label_questions(
                solver_votes,
                domain,
                [q for q, _ in pairs],
                cfg.voting,
                cfg.curriculum.band,
                cfg.solver.max_new_tokens,
            )
            for name, value in probe_figures(probe_rows, [a for _, a in pairs], domain.equivalent).items():
                setattr(metrics, name, value)
            write_jsonl(folder / "probe.jsonl", [r.model_dump() for r in probe_rows])
    return metrics


def run_solver(
    cfg: RunConfig,
    domain: Domain,
    k: int,
    *,
    solver: Path,
    curriculum: list[CurriculumRow],
    folder: Path,
    urls: dict[str, str],
) -> SolverMetrics:
    """Paper step 3: S(k-1) -> S(k) by GRPO on the curriculum's questions and pseudo-labels (oracle
    fields stripped). An empty curriculum skips training: S(k) is S(k-1), and the metrics say why."""
    rows = curriculum_stage.solver_rows(curriculum, cfg.curriculum.labels)
    records, metrics = solver_stage.train_solver(
        solver,
        rows,
        domain,
        cfg.solver,
        folder,
        cfg.seed + k,
        cfg.model,
        vllm_server_url=urls.get(TRL_VLLM_URL_ENV, ""),
        loss=cfg.grpo,
    )
    if ranks.is_main():  # every rank's rollouts: `records` holds them all
        write_jsonl(folder / "rollouts.jsonl", records)
    return metrics


def run_evaluate(
    cfg: RunConfig,
    domain: Domain,
    k: int,
    *,
    solver: Path,
    challenger: Path,
    curriculum: list[CurriculumRow],
    folder: Path | None,
    metrics: EvaluateMetrics | None = None,
) -> EvaluateMetrics:
    """Paper step 4 (ours: the paper evaluates on benchmarks afterwards): S(k) on the held-out set and
    `eval.benchmarks`, with exact answers, evaluation only; with eval.challenger_samples, the question
    validity of C(k). `rzero eval` calls this too, with k = 0 and no curriculum."""
    pair = bool(cfg.eval.challenger_samples and challenger != solver)
    with ExitStack() as engines:
        generator = stage_generator(solver, cfg, 4 * k, f"iter {k} evaluate", engines, "pair" if pair else "alone")
        questioner = (
            stage_generator(challenger, cfg, 4 * k, f"iter {k} challenger validity", engines, "pair") if pair else None
        )
        return evaluate_stage.evaluate_model(
            generator,
            domain,
            cfg.eval,
            curriculum,
            folder,
            challenger=questioner,
            metrics=metrics,
            challenger_max_new_tokens=cfg.challenger.max_new_tokens,
        )


def run_stage(cfg: RunConfig, run: RunDir, domain: Domain, k: int, name: str) -> StageMetrics:
    """Run one stage in this process: its inputs resolved from the run directory, a clean folder, the
    stage called by name, the DONE marker (written last, with the stage's wall time).

    A GRPO phase may run as several processes (ranks) that each call this. Rank 0 alone makes the clean
    folder (the others wait for it), writes the stage's records (every rank's rollouts, gathered), the
    model and DONE; the others write nothing but their own log, and leave once DONE is written."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r} (stages: {', '.join(STAGES)})")
    if ranks.world_size() > 1 and name not in GRPO_STAGES:
        raise ValueError(f"stage {name} runs as one process: launch it without accelerate (GRPO phases only)")
    ranks.start(cfg.model.device)
    curriculum = read_curriculum(run, k) if name in ("solver", "evaluate") else []
    folder = run.begin(k, name) if ranks.is_main() else run.stage(k, name)
    ranks.barrier()  # no rank writes into the folder before rank 0 has made it clean
    started = time.time()
    metrics: StageMetrics
    solver, new_solver = solver_before(run, cfg, k), solver_after(run, cfg, k)  # S(k-1), S(k)
    challenger, new_challenger = challenger_after(run, cfg, k - 1), challenger_after(run, cfg, k)  # C(k-1), C(k)
    with stage_servers(cfg, run, k, name) as urls:
        if name == "challenger":
            metrics = run_challenger(cfg, domain, k, challenger=challenger, solver=solver, folder=folder, urls=urls)
        elif name == "curriculum":
            metrics = run_curriculum(cfg, domain, k, challenger=new_challenger, solver=solver, folder=folder)
        elif name == "solver":
            metrics = run_solver(cfg, domain, k, solver=solver, curriculum=curriculum, folder=folder, urls=urls)
        else:
            metrics = run_evaluate(
                cfg, domain, k, solver=new_solver, challenger=new_challenger, curriculum=curriculum, folder=folder
            )
    metrics.seconds = round(time.time() - started, 1)
    if ranks.is_main():
        run.mark_done(k, name, metrics.model_dump())
    ranks.finish()  # the stage is done for every rank once its marker exists; the group closes
    return metrics
