"""Evaluation: held-out accuracy (greedy, mean@k, maj@k, by difficulty) and Challenger validity.

Ground truth is used here and only here: these numbers describe a model, they never train one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from rzero.core.domains import Domain, Problem, load_problems
from rzero.core.records import CurriculumRow, EvaluateMetrics, Figures, QuestionValidity
from rzero.core.sampling import Generator, Sampling
from rzero.core.voting import in_band, solver_votes


@dataclass(frozen=True)
class ProblemResult:
    """One held-out problem: the greedy answer and the m sampled answers with their vote."""

    question: str
    answer: str
    difficulty: int
    greedy_answer: str | None
    greedy_correct: bool
    sampled_answers: tuple[str | None, ...]
    sampled_correct: tuple[bool, ...]
    pseudo_label: str | None
    p_hat: float
    majority_correct: bool
    greedy_completion: str = ""  # the greedy text itself, for diagnostics (how the Solver answered)
    greedy_worked: bool = False  # the greedy text works the problem out (the domain's `shows_work`)
    sampled_worked: tuple[bool, ...] = ()  # the same for each sampled text


def _correct(domain: Domain, predicted: str | None, truth: str) -> bool:
    return predicted is not None and domain.equivalent(predicted, truth)


def score_problems(
    generator: Generator,
    domain: Domain,
    problems: Sequence[Problem],
    votes_per_question: int = 10,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 320,
) -> list[ProblemResult]:
    """Greedy answer and `votes_per_question` sampled answers (`voting.solver_votes`) for every problem."""
    prompts = [domain.solver_prompt(p.question) for p in problems]
    greedy = generator.generate(prompts, Sampling(1, 0.0, 1.0, max_new_tokens)) if prompts else []
    ballots: list = [None] * len(problems)
    if votes_per_question > 0 and prompts:
        questions = [p.question for p in problems]
        ballots = solver_votes(generator, domain, questions, votes_per_question, temperature, max_new_tokens, top_p)
    results = []
    for problem, g, ballot in zip(problems, greedy, ballots, strict=True):
        greedy_answer = domain.extract_answer(g[0].text)
        answers = ballot.answers if ballot else ()
        vote = ballot.vote if ballot else None
        results.append(
            ProblemResult(
                question=problem.question,
                answer=problem.answer,
                difficulty=problem.difficulty,
                greedy_answer=greedy_answer,
                greedy_correct=_correct(domain, greedy_answer, problem.answer),
                sampled_answers=answers,
                sampled_correct=tuple(_correct(domain, a, problem.answer) for a in answers),
                pseudo_label=vote.pseudo_label if vote else None,
                p_hat=vote.p_hat if vote else 0.0,
                majority_correct=bool(vote) and _correct(domain, vote.pseudo_label, problem.answer),
                greedy_completion=g[0].text,
                greedy_worked=domain.shows_work(problem.question, g[0].text),
                sampled_worked=tuple(domain.shows_work(problem.question, t) for t in ballot.completions)
                if ballot
                else (),
            )
        )
    return results


def spread_subset(problems: Sequence[Problem], count: int) -> list[Problem]:
    """`count` problems taken evenly across `problems` (all of them when count is 0 or too large)."""
    if count <= 0 or count >= len(problems):
        return list(problems)
    return [problems[i * len(problems) // count] for i in range(count)]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summarize(results: Sequence[ProblemResult], band_delta: float = 0.25) -> Figures:
    """Accuracy figures over `results`; sampled figures are None when no samples were drawn.

    greedy_accuracy: share of problems whose greedy answer is right.
    pass1_accuracy (mean@k): share of right answers over all samples.
    majority_accuracy (maj@k): share of problems whose majority answer is right.
    band_fraction: share of problems whose vote share p_hat is in the band (`voting.in_band`, the
    paper's delta by default): how much of the set a curriculum would keep.
    band_majority_accuracy: share of those whose majority answer is right: the pseudo-label
    accuracy a curriculum of these problems would train on.
    """
    by_level: dict[int, list[bool]] = defaultdict(list)
    for r in results:
        by_level[r.difficulty].append(r.greedy_correct)
    figures = Figures(
        problems=len(results),
        greedy_accuracy=_mean([r.greedy_correct for r in results]),
        accuracy_by_difficulty={str(k): _mean(v) for k, v in sorted(by_level.items())},
    )
    habit, skill = work_by_difficulty([(r.difficulty, r.greedy_worked, r.greedy_correct) for r in results])
    figures.worked_share_by_difficulty, figures.worked_accuracy_by_difficulty = habit, skill
    k = len(results[0].sampled_answers) if results else 0
    if k:
        figures.votes_per_question = k
        figures.pass1_accuracy = _mean([c for r in results for c in r.sampled_correct])
        figures.majority_accuracy = _mean([r.majority_correct for r in results])
        figures.band_fraction = _mean([in_band(r.p_hat, band_delta) for r in results])
        band = [r.majority_correct for r in results if in_band(r.p_hat, band_delta)]
        figures.band_majority_accuracy = _mean(band) if band else None
        figures.mean_p_hat = _mean([r.p_hat for r in results])
        answers = [
            (r.difficulty, worked, right)
            for r in results
            for worked, right in zip(r.sampled_worked, r.sampled_correct, strict=True)
        ]
        habit, skill = work_by_difficulty(answers)
        figures.sampled_worked_share_by_difficulty, figures.sampled_worked_accuracy_by_difficulty = habit, skill
    return figures


def work_by_difficulty(answers: Sequence[tuple[int, bool, bool]]) -> tuple[dict, dict]:
    """Habit and skill per difficulty, from (difficulty, works it out, right) per answer: the share
    of answers that work the problem out, and the accuracy of those that do (None where none do).
    A gain in accuracy splits into these two: answering with the steps more often (habit), and
    getting the steps right (skill)."""
    by_level: dict[int, list[tuple[bool, bool]]] = defaultdict(list)
    for difficulty, worked, right in answers:
        by_level[difficulty].append((worked, right))
    habit, skill = {}, {}
    for level, rows in sorted(by_level.items()):
        worked = [right for shows, right in rows if shows]
        habit[str(level)] = len(worked) / len(rows)
        skill[str(level)] = _mean(worked) if worked else None
    return habit, skill


def question_validity(
    generator: Generator,
    domain: Domain,
    samples: int = 200,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 64,
) -> dict:
    """Share of Challenger samples that parse as well-formed questions, and their difficulty spread."""
    sampling = Sampling(samples, temperature, top_p, max_new_tokens)
    completions = generator.generate([domain.challenger_prompt()], sampling)[0]
    questions = [domain.parse_question(c.text) for c in completions]
    valid = [q for q in questions if q is not None]
    levels = Counter(domain.difficulty(q) for q in valid)
    return QuestionValidity(
        challenger_samples=samples,
        question_validity=len(valid) / samples,
        distinct_questions=len(set(valid)),
        difficulty_histogram={str(k): v for k, v in sorted(levels.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))},
    )


def greedy_accuracy(
    generator: Generator, domain: Domain, problems: Sequence[Problem], max_new_tokens: int = 320
) -> float:
    """Greedy accuracy alone (no sampling): the cheap figure for quick checks."""
    prompts = [domain.solver_prompt(p.question) for p in problems]
    outputs = generator.generate(prompts, Sampling(1, 0.0, 1.0, max_new_tokens))
    answers = [domain.extract_answer(o[0].text) for o in outputs]
    return _mean([_correct(domain, a, p.answer) for a, p in zip(answers, problems, strict=True)])


def benchmark_figures(score, domain: Domain, cfg, metrics: EvaluateMetrics | None = None) -> EvaluateMetrics:
    """Greedy accuracy (and mean@k, maj@k) per benchmark of `cfg.benchmarks` into `metrics`, with the
    paper's averages: `math_average` over the math benchmarks, `general_average` over MMLU-Pro,
    SuperGPQA and BBEH, `benchmark_average` over all; `cfg.problems` limits each benchmark (0 = all of
    it). `score(problems, scorer)` scores with the benchmark's own scorer (`rzero.core.evalsets.scorer_for`).
    Benchmarks are added one by one, so the figures of those done survive a later one's failure."""
    from rzero.core.evalsets import MATH_BENCHMARKS, benchmark_names, load_benchmark, scorer_for

    metrics = metrics if metrics is not None else EvaluateMetrics()
    for name in benchmark_names(cfg.benchmarks):
        problems, _, missing = load_benchmark(name, cfg.data_dir, cfg.problems)
        figures = summarize(score(problems, scorer_for(name, domain)))
        figures.accuracy_by_difficulty = None  # benchmarks have no levels: no per-level habit or skill either
        figures.worked_share_by_difficulty = figures.worked_accuracy_by_difficulty = None
        figures.sampled_worked_share_by_difficulty = figures.sampled_worked_accuracy_by_difficulty = None
        figures.rows_without_gold = len(missing)
        metrics.benchmarks[name] = figures

    def average(names) -> float | None:
        return _mean([metrics.benchmarks[n].greedy_accuracy for n in names]) if names else None

    metrics.benchmark_average = average(list(metrics.benchmarks))
    metrics.math_average = average([n for n in metrics.benchmarks if n in MATH_BENCHMARKS])
    metrics.general_average = average([n for n in metrics.benchmarks if n not in MATH_BENCHMARKS])
    return metrics


def evaluate_model(
    generator: Generator,
    domain: Domain,
    cfg,
    curriculum: Sequence[CurriculumRow],
    folder=None,
    challenger: Generator | None = None,
    metrics: EvaluateMetrics | None = None,
    challenger_max_new_tokens: int = 64,
) -> EvaluateMetrics:
    """The evaluation stage, for the loop and for `rzero eval` alike: held-out figures (the domain's
    set or `eval.heldout_file`), the benchmarks of `eval.benchmarks`, and where the curriculum carries
    oracle answers, the pseudo-label accuracy of that curriculum and this Solver's greedy accuracy on
    it. With `eval.challenger_samples` > 0, the question validity of `challenger` (the current
    Challenger; the evaluated model itself when None).

    `cfg` is an `EvalConfig`; per-problem results go to folder/results.jsonl when `folder` is given.
    Figures are filled into `metrics` as they are computed (pass one in to keep them when a
    benchmark fails).
    """
    from dataclasses import asdict
    from pathlib import Path

    from rzero.core.rundir import write_jsonl

    metrics = metrics if metrics is not None else EvaluateMetrics()
    try:
        problems = load_problems(cfg.heldout_file) if cfg.heldout_file else domain.heldout()
    except NotImplementedError:  # the math domain has no held-out set of its own: benchmarks only
        problems = []
    heldout = spread_subset(problems, cfg.problems)
    score = lambda problems, scorer: score_problems(  # noqa: E731
        generator, scorer, problems, cfg.votes_per_question, cfg.temperature, 1.0, cfg.max_new_tokens
    )
    results = score(heldout, domain) if heldout else []
    if results:
        metrics.heldout = summarize(results)
    if folder is not None:
        write_jsonl(Path(folder) / "results.jsonl", [asdict(r) for r in results])
    if cfg.challenger_samples:
        sampler = challenger if challenger is not None else generator
        metrics.validity = question_validity(
            sampler, domain, cfg.challenger_samples, max_new_tokens=challenger_max_new_tokens
        )
    if cfg.benchmarks:
        benchmark_figures(score, domain, cfg, metrics)
    checked = [r for r in curriculum if r.oracle_answer is not None]
    if checked:
        metrics.pseudo_label_accuracy = _mean([bool(r.pseudo_label_correct) for r in checked])
        truths = [Problem(r.question, r.oracle_answer, r.difficulty or 0) for r in checked]
        metrics.accuracy_on_own_curriculum = greedy_accuracy(generator, domain, truths, cfg.max_new_tokens)
    return metrics
