"""Typed records between stages: curriculum rows, each stage's metrics, one iteration, a run's summary.

Stages return these records; the loop, drift, the tables, the report and the metrics sink read their
attributes, so a renamed field fails where it is used (an AttributeError, a type checker's complaint)
instead of printing `-` or leaving a drift alarm that never fires. They are pydantic models:
`record.model_dump()` and `from_json(cls, data)` (`model_validate` with a one-line error that names
the first unknown, missing or bad key) are the only conversions to and from the run directory's files
(DONE markers, summary.json, curriculum.jsonl, pool.jsonl, probe.jsonl). The JSON is the one earlier
versions wrote, byte for byte, so older run directories still resume and report: fields that were left
out when empty say so (`omitted_if_none`), and the three records whose JSON layout differs from their
fields (`maj{k}_accuracy`, the held-out figures flattened into the evaluation's metrics, warnings and
alerts from iteration 1 on) keep a serializer (and a validator) of their own.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer, model_validator

STAGES = ("challenger", "curriculum", "solver", "evaluate")  # the order of one iteration
GRPO_STAGES = ("challenger", "solver")  # the two training phases: the stages that may run as several processes

# A real number as the stage computed it: an int where it is one (statistics over ints, a count), so
# that the JSON keeps the digits earlier versions wrote ("2", not "2.0").
Real = int | float


class PhaseFailed(RuntimeError):
    """A training phase produced unusable weights (NaN or infinite loss or parameters). The model is
    not saved, so the stage has no DONE marker and the previous checkpoint stays the latest one."""


def omitted_if_none(default: Any = None) -> Any:
    """A field left out of the JSON while it is None (a diagnostic that did not run)."""
    return Field(default, exclude_if=lambda value: value is None)


R = TypeVar("R", bound="Record")


class Record(BaseModel):
    """The settings every record shares (no behaviour): unknown keys refused, assignments checked; `what`
    names the record in an error."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    what: ClassVar[str] = "record"


def from_json(cls: type[R], data: Any) -> R:
    """The record `cls` of `data` (a parsed DONE marker, summary or JSONL row); a ValueError of one line
    that names the record and the first unknown, missing or bad key. Its JSON is `record.model_dump()`."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.what}: expected a JSON object, got {type(data).__name__}")
    try:
        return cls.model_validate(data)
    except ValidationError as error:
        raise ValueError(f"{cls.what}: {_first_problem(error)}") from None


def _first_problem(error: ValidationError) -> str:
    """An unknown key first (the likeliest cause), then a missing one, then any other problem."""
    errors = error.errors(include_url=False)
    for kind, words in (("extra_forbidden", "unknown key"), ("missing", "missing key")):
        for found in errors:
            if found["type"] == kind:
                return f"{words} {str(found['loc'][-1])!r}"
    first = errors[0]
    message = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {message}" if where else message


class CurriculumRow(Record):
    """One question the pre-update Solver voted on: its m answers, pseudo-label, p_hat, band membership.
    The oracle fields are diagnostics only; `curriculum.solver_rows` keeps them from every reward."""

    what: ClassVar[str] = "curriculum row"
    question: str
    difficulty: int | None
    answers: list[str | None]
    pseudo_label: str | None
    p_hat: Real
    group_sizes: list[int]
    in_band: bool
    oracle_answer: str | None = omitted_if_none()  # the domain's exact answer, where it has an oracle
    pseudo_label_correct: bool | None = omitted_if_none()  # pseudo_label equivalent to oracle_answer
    probe_answer: str | None = omitted_if_none()  # probe rows only: the probe file's answer


class ChallengerMetrics(Record):
    """The Challenger phase: reward parts averaged over every generated question (all rollouts)."""

    what: ClassVar[str] = "challenger metrics"
    trained: bool
    questions: int = 0  # Challenger rollouts scored
    well_formed: Real | None = None  # share that parsed as a question
    reward: Real | None = None
    uncertainty: Real | None = None
    repetition: Real | None = None
    p_hat: Real | None = None  # mean vote share over well-formed questions
    distinct_questions: int | None = None
    mean_difficulty: Real | None = None
    seconds: Real = 0.0


class CurriculumMetrics(Record):
    """The curriculum stage: what the pool held, what the band kept, and (diagnostics) how often the
    kept pseudo-labels were right."""

    what: ClassVar[str] = "curriculum metrics"
    sampled: int = 0
    malformed: int = 0
    duplicates: int = 0
    labelled: int = 0
    unlabelled: int = 0  # labelled questions without any extracted answer
    kept: int = 0
    kept_fraction: Real = 0.0
    mean_p_hat: Real | None = None  # over the kept questions
    distinct_fraction: Real = 0.0  # distinct well-formed questions / sampled
    mean_pairwise_bleu: Real | None = None
    distinct_3gram_share: Real | None = None
    pool_mean_difficulty: Real | None = None
    mean_difficulty: Real | None = None  # over the kept questions
    pseudo_label_accuracy: Real | None = None  # over the kept questions (needs an oracle)
    seconds: Real = 0.0
    heldout_dropped: int | None = omitted_if_none()  # pool questions equal to a held-out one, dropped before voting
    probe_questions: int | None = omitted_if_none()  # eval.probe_file only (rzero.observe.probe)
    probe_labelled: int | None = omitted_if_none()
    probe_in_band: int | None = omitted_if_none()
    probe_pseudo_label_accuracy: Real | None = omitted_if_none()
    probe_pseudo_label_accuracy_all: Real | None = omitted_if_none()


class SolverMetrics(Record):
    """The Solver phase: rollouts, mean reward against the pseudo-labels, share that gave an answer."""

    what: ClassVar[str] = "solver metrics"
    trained: bool
    curriculum_questions: int = 0
    rollouts: int = 0
    mean_reward: Real | None = None
    answered_fraction: Real | None = None
    seconds: Real = 0.0


MAJORITY_KEY = re.compile(r"maj\d+_accuracy")


class Figures(Record):
    """Accuracy on one set of problems (the held-out set, or one benchmark). Sampled figures are None
    when no samples were drawn (votes_per_question = 0). In JSON, fields that are None are left out,
    `votes_per_question` too when it is 0, and `majority_accuracy` is named `maj{k}_accuracy`."""

    what: ClassVar[str] = "accuracy figures"
    problems: int
    greedy_accuracy: Real
    accuracy_by_difficulty: dict[str, Real] | None = None  # held-out set only
    votes_per_question: int = 0  # k of mean@k and maj@k
    pass1_accuracy: Real | None = None  # mean@k
    majority_accuracy: Real | None = None  # maj@k; in JSON `maj{k}_accuracy`
    band_fraction: Real | None = None  # share of problems with p_hat in the band
    band_majority_accuracy: Real | None = None  # share of those whose majority answer is right
    mean_p_hat: Real | None = None
    rows_without_gold: int | None = None  # benchmarks only
    # habit and skill (`evaluate.work_by_difficulty`): of the greedy answers at each difficulty, the
    # share that work the problem out, and the accuracy of those that do; then the same of the samples
    worked_share_by_difficulty: dict[str, Real] | None = None
    worked_accuracy_by_difficulty: dict[str, Real | None] | None = None
    sampled_worked_share_by_difficulty: dict[str, Real] | None = None
    sampled_worked_accuracy_by_difficulty: dict[str, Real | None] | None = None

    @property
    def majority_key(self) -> str:
        return f"maj{self.votes_per_question}_accuracy"

    @model_serializer(mode="wrap")
    def _json_layout(self, handler) -> dict:
        data = {key: value for key, value in handler(self).items() if value is not None}
        if not self.votes_per_question:
            data.pop("votes_per_question")
        return {(self.majority_key if key == "majority_accuracy" else key): value for key, value in data.items()}

    @model_validator(mode="before")
    @classmethod
    def _majority_key(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {("majority_accuracy" if MAJORITY_KEY.fullmatch(key) else key): value for key, value in data.items()}


class QuestionValidity(Record):
    """Challenger samples drawn from a model: the share that parse as questions, and their levels."""

    what: ClassVar[str] = "question validity"
    challenger_samples: int
    question_validity: Real
    distinct_questions: int
    difficulty_histogram: dict[str, int]


class EvaluateMetrics(Record):
    """The evaluation stage. In JSON the held-out figures and the question validity sit at the top
    level (as they always have), and `greedy_accuracy` is the benchmark average when there is no
    held-out set (the math domain)."""

    what: ClassVar[str] = "evaluate metrics"
    heldout: Figures | None = None
    benchmarks: dict[str, Figures] = Field(default_factory=dict)
    benchmark_average: Real | None = None
    math_average: Real | None = None  # the paper's math benchmarks
    general_average: Real | None = None  # MMLU-Pro, SuperGPQA, BBEH
    pseudo_label_accuracy: Real | None = None  # of the curriculum this Solver trained on
    accuracy_on_own_curriculum: Real | None = None  # this Solver's greedy accuracy on it
    validity: QuestionValidity | None = None  # eval.challenger_samples > 0
    seconds: Real = 0.0

    @property
    def greedy_accuracy(self) -> Real | None:
        return self.heldout.greedy_accuracy if self.heldout else self.benchmark_average

    @model_serializer(mode="wrap")
    def _json_layout(self, handler) -> dict:
        fields = handler(self)
        data: dict[str, Any] = dict(fields["heldout"] or {})
        data["greedy_accuracy"] = self.greedy_accuracy
        if self.benchmarks:
            data["benchmarks"] = fields["benchmarks"]
            for key in ("benchmark_average", "math_average", "general_average"):
                data[key] = fields[key]
        for key in ("pseudo_label_accuracy", "accuracy_on_own_curriculum"):
            if fields[key] is not None:
                data[key] = fields[key]
        data.update(fields["validity"] or {})
        data["seconds"] = fields["seconds"]
        return data

    @model_validator(mode="before")
    @classmethod
    def _nested(cls, data: Any) -> Any:
        """The flat JSON layout back into the fields (a dict that has `heldout` is already nested)."""
        if not isinstance(data, dict) or "heldout" in data or "validity" in data:
            return data
        data = dict(data)
        figure_keys = set(Figures.model_fields) | {key for key in data if MAJORITY_KEY.fullmatch(key)}
        heldout = {key: data.pop(key) for key in list(data) if key in figure_keys and key != "greedy_accuracy"}
        greedy = data.pop("greedy_accuracy", None)
        if greedy is not None and not heldout and not data.get("benchmarks"):
            raise ValueError("greedy_accuracy without the held-out figures or benchmarks it sums up")
        validity = {key: data.pop(key) for key in list(data) if key in QuestionValidity.model_fields}
        return {
            **data,
            "heldout": {**heldout, "greedy_accuracy": greedy} if heldout else None,
            "validity": validity or None,
        }


STAGE_METRICS = {
    "challenger": ChallengerMetrics,
    "curriculum": CurriculumMetrics,
    "solver": SolverMetrics,
    "evaluate": EvaluateMetrics,
}
StageMetrics = ChallengerMetrics | CurriculumMetrics | SolverMetrics | EvaluateMetrics


def stage_metrics_from_json(stage: str, data: dict) -> StageMetrics:
    """The metrics record of stage `stage` (a DONE marker's content)."""
    return from_json(STAGE_METRICS[stage], data)


class Alert(Record):
    """A drift or collapse trigger that fired on an iteration (`rzero.observe.drift`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    what: ClassVar[str] = "alert"
    trigger: str
    iteration: int
    message: str


class IterationRecord(Record):
    """One iteration as summary.json holds it: each stage's metrics (iteration 0 has evaluate only),
    the degenerate-phase warnings and the drift alerts (in JSON from iteration 1 on)."""

    what: ClassVar[str] = "iteration record"
    iteration: int
    challenger: ChallengerMetrics | None = omitted_if_none()
    curriculum: CurriculumMetrics | None = omitted_if_none()
    solver: SolverMetrics | None = omitted_if_none()
    evaluate: EvaluateMetrics
    warnings: list[str] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)

    def stages(self) -> dict[str, StageMetrics]:
        """{stage name: metrics} of the stages this iteration has, in run order."""
        found = {name: getattr(self, name) for name in STAGES}
        return {name: metrics for name, metrics in found.items() if metrics is not None}

    @model_serializer(mode="wrap")
    def _json_layout(self, handler) -> dict:
        data = handler(self)
        if not self.iteration:
            data.pop("warnings")
            data.pop("alerts")
        return data


UNLOCKED_HABIT = 0.5  # a level (skills: a family) is unlocked once most greedy answers work it out


class RunSummary(Record):
    """summary.json: the resolved config, one record per finished iteration, and why a run ended early."""

    what: ClassVar[str] = "summary"
    config: dict
    iterations: list[IterationRecord] = Field(default_factory=list)
    stopped: dict | None = omitted_if_none()  # {"iteration", "reason"}: a phase produced NaN weights
    stopped_early: dict | None = omitted_if_none()  # {"iteration", "triggers"}: monitor.early_stop
    wall_seconds_this_invocation: Real | None = omitted_if_none()

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

    def unlocked_levels(self, threshold: float = UNLOCKED_HABIT) -> list[tuple[int, list[str]]]:
        """(iteration, difficulty levels unlocked) per iteration with habit figures: the levels whose
        held-out greedy habit is at least `threshold` there and was below it at the first such
        iteration (iteration 0). On the skills testbed a level is a problem family, so these are the
        families the loop has unlocked (issue 31)."""
        rows = self.habit_and_skill()
        if not rows:
            return []
        start = rows[0][2]
        return [
            (k, [v for v, share in habit.items() if share >= threshold and start.get(v, 0.0) < threshold])
            for k, _, habit, _ in rows
        ]
