"""Every input of a stage, derived from the run directory and the config alone: which Challenger and
Solver checkpoints are current (S(k-1), S(k), C(k-1), C(k)), which curriculum iteration k trains on, the
run's domain. So a stage runs the same in the loop's process, in a stage process, on another node and
after a crash."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rzero.config.schema import RunConfig
from rzero.core.domains import Domain, get_domain, load_problems, question_key, with_chat_template
from rzero.core.records import ChallengerMetrics, CurriculumRow, from_json
from rzero.core.rundir import RunDir, read_jsonl


def embedded_base_path() -> Path:
    """Folder of the shipped base model (a Hugging Face checkpoint with its tokenizer: `rzero.base_model`)."""
    return Path(str(resources.files("rzero").joinpath("base_model")))


def base_model(cfg: RunConfig) -> Path:
    """S(0) and C(0): the folder model.path names (the shipped model for "embedded")."""
    return embedded_base_path() if cfg.model.path == "embedded" else Path(cfg.model.path)


def solver_before(run: RunDir, cfg: RunConfig, k: int) -> Path:
    """S(k-1): the Solver that iteration k starts from."""
    return solver_after(run, cfg, k - 1)


def solver_after(run: RunDir, cfg: RunConfig, k: int) -> Path:
    """S(k): the Solver iteration k ends with (the base model for k = 0)."""
    return run.stage(k, "solver") / "model" if k > 0 else base_model(cfg)


def challenger_after(run: RunDir, cfg: RunConfig, k: int) -> Path:
    """The latest trained Challenger of iterations 1..k (the base model when none was trained)."""
    for j in range(k, 0, -1):
        if run.is_done(j, "challenger") and from_json(ChallengerMetrics, run.done_info(j, "challenger")).trained:
            return run.stage(j, "challenger") / "model"
    return base_model(cfg)


def read_curriculum(run: RunDir, k: int) -> list[CurriculumRow]:
    """The curriculum that iteration k's Solver trains on (none in iteration 0)."""
    if k == 0:
        return []
    return [from_json(CurriculumRow, row) for row in read_jsonl(run.stage(k, "curriculum") / "curriculum.jsonl")]


def build_domain(cfg: RunConfig) -> Domain:
    """The run's domain, its prompts rendered with the base model's chat template where it has one."""
    return with_chat_template(get_domain(cfg.domain), base_model(cfg), cfg.model.chat_template)


def heldout_keys(cfg: RunConfig, domain: Domain) -> frozenset[str]:
    """The `question_key`s of every question the run is scored on: the held-out set (eval.heldout_file,
    else the domain's own) and, when eval.benchmarks is set, every question of those benchmarks (all
    rows, not only the eval.problems evaluated). The curriculum stage drops pool questions with these
    keys before voting, so that the Solver never trains on a question it is then tested on."""
    from rzero.core.evalsets import benchmark_names, load_benchmark

    try:
        problems = load_problems(cfg.eval.heldout_file) if cfg.eval.heldout_file else domain.heldout()
    except NotImplementedError:  # the math domain has no held-out set of its own
        problems = []
    for name in benchmark_names(cfg.eval.benchmarks):
        problems = [*problems, *load_benchmark(name, cfg.eval.data_dir)[0]]
    return frozenset(question_key(p.question) for p in problems)
