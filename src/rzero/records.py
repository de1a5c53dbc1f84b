"""Typed records between stages: curriculum rows, each stage's metrics, one iteration, a run's summary.

Stages return these records; the loop, drift, the tables, the report and the metrics sink read their
attributes, so a renamed field fails where it is used (an AttributeError, a type checker's complaint)
instead of printing `-` or leaving a drift alarm that never fires. `to_json` / `from_json` are the only
conversions to and from the run directory's files (DONE markers, summary.json, curriculum.jsonl,
pool.jsonl, probe.jsonl); `from_json` rejects a key it does not know, naming it. The JSON keys are the
ones earlier versions wrote, so older run directories still resume and report.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

STAGES = ("challenger", "curriculum", "solver", "evaluate")  # the order of one iteration


def _build(cls, data: dict, what: str):
    """`cls(**data)`, refusing keys that `cls` does not have (the error names the key and the record)."""
    if not isinstance(data, dict):
        raise ValueError(f"{what}: expected a JSON object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{what}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    required = [f.name for f in dataclasses.fields(cls) if f.default is f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise ValueError(f"{what}: missing key {missing[0]!r}")
    return cls(**data)


def _without_none(record, optional: tuple[str, ...]) -> dict:
    """The record's fields as a dict, leaving out the `optional` ones that are None."""
    data = dataclasses.asdict(record)
    return {k: v for k, v in data.items() if not (k in optional and v is None)}


@dataclass
class CurriculumRow:
    """One question the pre-update Solver voted on: its m answers, pseudo-label, p_hat, band membership.
    The oracle fields are diagnostics only; `curriculum.solver_rows` keeps them from every reward."""

    question: str
    difficulty: int | None
    answers: list[str | None]
    pseudo_label: str | None
    p_hat: float
    group_sizes: list[int]
    in_band: bool
    oracle_answer: str | None = None  # the domain's exact answer, where it has an oracle
    pseudo_label_correct: bool | None = None  # pseudo_label equivalent to oracle_answer
    probe_answer: str | None = None  # probe rows only: the probe file's answer

    def to_json(self) -> dict:
        return _without_none(self, ("oracle_answer", "pseudo_label_correct", "probe_answer"))

    @classmethod
    def from_json(cls, data: dict) -> CurriculumRow:
        return _build(cls, data, "curriculum row")


@dataclass
class ChallengerMetrics:
    """The Challenger phase: reward parts averaged over every generated question (all rollouts)."""

    trained: bool
    questions: int = 0  # Challenger rollouts scored
    well_formed: float | None = None  # share that parsed as a question
    reward: float | None = None
    uncertainty: float | None = None
    repetition: float | None = None
    p_hat: float | None = None  # mean vote share over well-formed questions
    distinct_questions: int | None = None
    mean_difficulty: float | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ChallengerMetrics:
        return _build(cls, data, "challenger metrics")


@dataclass
class CurriculumMetrics:
    """The curriculum stage: what the pool held, what the band kept, and (diagnostics) how often the
    kept pseudo-labels were right."""

    sampled: int = 0
    malformed: int = 0
    duplicates: int = 0
    labelled: int = 0
    unlabelled: int = 0  # labelled questions without any extracted answer
    kept: int = 0
    kept_fraction: float = 0.0
    mean_p_hat: float | None = None  # over the kept questions
    distinct_fraction: float = 0.0  # distinct well-formed questions / sampled
    mean_pairwise_bleu: float | None = None
    distinct_3gram_share: float | None = None
    pool_mean_difficulty: float | None = None
    mean_difficulty: float | None = None  # over the kept questions
    pseudo_label_accuracy: float | None = None  # over the kept questions (needs an oracle)
    seconds: float = 0.0
    probe_questions: int | None = None  # eval.probe_file only (rzero.probe)
    probe_labelled: int | None = None
    probe_in_band: int | None = None
    probe_pseudo_label_accuracy: float | None = None
    probe_pseudo_label_accuracy_all: float | None = None

    def to_json(self) -> dict:
        return _without_none(self, tuple(f.name for f in dataclasses.fields(self) if f.name.startswith("probe_")))

    @classmethod
    def from_json(cls, data: dict) -> CurriculumMetrics:
        return _build(cls, data, "curriculum metrics")


@dataclass
class SolverMetrics:
    """The Solver phase: rollouts, mean reward against the pseudo-labels, share that gave an answer."""

    trained: bool
    curriculum_questions: int = 0
    rollouts: int = 0
    mean_reward: float | None = None
    answered_fraction: float | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> SolverMetrics:
        return _build(cls, data, "solver metrics")


MAJORITY_KEY = re.compile(r"maj\d+_accuracy")


@dataclass
class Figures:
    """Accuracy on one set of problems (the held-out set, or one benchmark). Sampled figures are None
    when no samples were drawn (votes_per_question = 0)."""

    problems: int
    greedy_accuracy: float
    accuracy_by_difficulty: dict[str, float] | None = None  # held-out set only
    votes_per_question: int = 0  # k of mean@k and maj@k
    pass1_accuracy: float | None = None  # mean@k
    majority_accuracy: float | None = None  # maj@k; in JSON `maj{k}_accuracy`
    band_fraction: float | None = None  # share of problems with p_hat in the band
    band_majority_accuracy: float | None = None  # share of those whose majority answer is right
    mean_p_hat: float | None = None
    rows_without_gold: int | None = None  # benchmarks only
    # habit and skill (`evaluate.work_by_difficulty`): of the greedy answers at each difficulty, the
    # share that work the problem out, and the accuracy of those that do; then the same of the samples
    worked_share_by_difficulty: dict[str, float] | None = None
    worked_accuracy_by_difficulty: dict[str, float | None] | None = None
    sampled_worked_share_by_difficulty: dict[str, float] | None = None
    sampled_worked_accuracy_by_difficulty: dict[str, float | None] | None = None

    @property
    def majority_key(self) -> str:
        return f"maj{self.votes_per_question}_accuracy"

    def to_json(self) -> dict:
        data = _without_none(self, tuple(f.name for f in dataclasses.fields(self)))
        if not self.votes_per_question:
            data.pop("votes_per_question")
        if "majority_accuracy" in data:
            data = {(self.majority_key if k == "majority_accuracy" else k): v for k, v in data.items()}
        return data

    @classmethod
    def from_json(cls, data: dict) -> Figures:
        renamed = {("majority_accuracy" if MAJORITY_KEY.fullmatch(k) else k): v for k, v in data.items()}
        return _build(cls, renamed, "accuracy figures")


@dataclass
class QuestionValidity:
    """Challenger samples drawn from a model: the share that parse as questions, and their levels."""

    challenger_samples: int
    question_validity: float
    distinct_questions: int
    difficulty_histogram: dict[str, int]

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}


@dataclass
class EvaluateMetrics:
    """The evaluation stage. In JSON the held-out figures and the question validity sit at the top
    level (as they always have), and `greedy_accuracy` is the benchmark average when there is no
    held-out set (the math domain)."""

    heldout: Figures | None = None
    benchmarks: dict[str, Figures] = field(default_factory=dict)
    benchmark_average: float | None = None
    math_average: float | None = None  # the paper's math benchmarks
    general_average: float | None = None  # MMLU-Pro, SuperGPQA, BBEH
    pseudo_label_accuracy: float | None = None  # of the curriculum this Solver trained on
    accuracy_on_own_curriculum: float | None = None  # this Solver's greedy accuracy on it
    validity: QuestionValidity | None = None  # eval.challenger_samples > 0
    seconds: float = 0.0

    @property
    def greedy_accuracy(self) -> float | None:
        return self.heldout.greedy_accuracy if self.heldout else self.benchmark_average

    def to_json(self) -> dict:
        data: dict[str, Any] = self.heldout.to_json() if self.heldout else {}
        data["greedy_accuracy"] = self.greedy_accuracy
        if self.benchmarks:
            data["benchmarks"] = {name: figures.to_json() for name, figures in self.benchmarks.items()}
            for key in ("benchmark_average", "math_average", "general_average"):
                data[key] = getattr(self, key)
        for key in ("pseudo_label_accuracy", "accuracy_on_own_curriculum"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.validity:
            data.update(dataclasses.asdict(self.validity))
        data["seconds"] = self.seconds
        return data

    @classmethod
    def from_json(cls, data: dict) -> EvaluateMetrics:
        data = dict(data)
        figure_keys = {f.name for f in dataclasses.fields(Figures)} | {k for k in data if MAJORITY_KEY.fullmatch(k)}
        heldout = {k: data.pop(k) for k in list(data) if k in figure_keys and k != "greedy_accuracy"}
        greedy = data.pop("greedy_accuracy", None)
        if greedy is not None and not heldout and not data.get("benchmarks"):
            raise ValueError("evaluate metrics: greedy_accuracy without the held-out figures or benchmarks it sums up")
        if heldout:
            heldout = Figures.from_json({**heldout, "greedy_accuracy": greedy})
        validity = {k: data.pop(k) for k in list(data) if k in QuestionValidity.field_names()}
        benchmarks = {name: Figures.from_json(f) for name, f in data.pop("benchmarks", {}).items()}
        record = _build(cls, data, "evaluate metrics")
        record.heldout = heldout or None
        record.benchmarks = benchmarks
        record.validity = QuestionValidity(**validity) if validity else None
        return record


STAGE_METRICS = {
    "challenger": ChallengerMetrics,
    "curriculum": CurriculumMetrics,
    "solver": SolverMetrics,
    "evaluate": EvaluateMetrics,
}
StageMetrics = ChallengerMetrics | CurriculumMetrics | SolverMetrics | EvaluateMetrics


def stage_metrics_from_json(stage: str, data: dict) -> StageMetrics:
    """The metrics record of stage `stage` (a DONE marker's content)."""
    return STAGE_METRICS[stage].from_json(data)


@dataclass(frozen=True)
class Alert:
    """A drift or collapse trigger that fired on an iteration (`rzero.drift`)."""

    trigger: str
    iteration: int
    message: str


@dataclass
class IterationRecord:
    """One iteration as summary.json holds it: each stage's metrics (iteration 0 has evaluate only),
    the degenerate-phase warnings and the drift alerts."""

    iteration: int
    evaluate: EvaluateMetrics
    challenger: ChallengerMetrics | None = None
    curriculum: CurriculumMetrics | None = None
    solver: SolverMetrics | None = None
    warnings: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    def stages(self) -> dict[str, StageMetrics]:
        """{stage name: metrics} of the stages this iteration has, in run order."""
        found = {"challenger": self.challenger, "curriculum": self.curriculum, "solver": self.solver}
        return {name: m for name, m in {**found, "evaluate": self.evaluate}.items() if m is not None}

    def to_json(self) -> dict:
        data: dict[str, Any] = {"iteration": self.iteration}
        for stage, metrics in self.stages().items():
            data[stage] = metrics.to_json()
        if self.iteration:
            data["warnings"] = list(self.warnings)
            data["alerts"] = [dataclasses.asdict(a) for a in self.alerts]
        return data

    @classmethod
    def from_json(cls, data: dict) -> IterationRecord:
        data = dict(data)
        stages = {s: stage_metrics_from_json(s, data.pop(s)) for s in STAGES if data.get(s) is not None}
        alerts = [Alert(**a) for a in data.pop("alerts", [])]
        record = _build(cls, {**data, "evaluate": None}, "iteration record")
        for stage, metrics in stages.items():
            setattr(record, stage, metrics)
        record.alerts = alerts
        if record.evaluate is None:
            raise ValueError(f"iteration record {record.iteration}: no evaluate metrics")
        return record


@dataclass
class RunSummary:
    """summary.json: the resolved config, one record per finished iteration, and why a run ended early."""

    config: dict
    iterations: list[IterationRecord] = field(default_factory=list)
    stopped: dict | None = None  # {"iteration", "reason"}: a phase produced NaN weights
    stopped_early: dict | None = None  # {"iteration", "triggers"}: monitor.early_stop
    wall_seconds_this_invocation: float | None = None

    def habit_and_skill(self) -> list[tuple[int, dict, dict, dict]]:
        """(iteration, accuracy, habit, skill by difficulty) of the held-out greedy answers, for the
        iterations whose figures have them: habit = the share that work the problem out, skill = the
        accuracy of those that do (None at a level where none do). The terminal table and the HTML
        report both show these rows."""
        rows = []
        for entry in self.iterations:
            held = entry.evaluate.heldout
            if held and held.worked_share_by_difficulty and held.accuracy_by_difficulty:
                skill = held.worked_accuracy_by_difficulty or {}
                rows.append((entry.iteration, held.accuracy_by_difficulty, held.worked_share_by_difficulty, skill))
        return rows

    def to_json(self) -> dict:
        data = {"config": self.config, "iterations": [it.to_json() for it in self.iterations]}
        for key in ("stopped", "stopped_early", "wall_seconds_this_invocation"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    @classmethod
    def from_json(cls, data: dict) -> RunSummary:
        data = dict(data)
        iterations = [IterationRecord.from_json(it) for it in data.pop("iterations", [])]
        return _build(cls, {**data, "iterations": iterations}, "summary")
