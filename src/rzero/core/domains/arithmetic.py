"""The embedded default domain: multi-step integer arithmetic with a worked scratchpad.

A question is an expression of non-negative integer literals joined by `+`, `-` and `*`, written
compactly without spaces (`7+3*4-5`; the grammar accepts spaces and canonicalises them away). The
usual precedence holds: products first, then sums and differences from left to right. A worked
solution reduces one operation per line, writes the operation and its result, then the rewritten
expression, and ends with the answer boxed:

    3*4=12;7+12-5
    7+12=19;19-5
    19-5=14
    \\boxed{14}

The compact form is deliberate: with one token per character and no space tokens, a tiny model on a
CPU sees almost twice as many problems per second of pretraining and of self-evolution.

Difficulty is the number of operations. Every knob of the generator is explicit (`Spec`). The
oracle parses the text with its own small parser and reduces it step by step; model output is never
passed to `eval`. The oracle is for evaluation and diagnostics only: no training signal of the loop
may depend on it (R-Zero uses no ground truth).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from rzero.core.domains import Problem, last_boxed, lines_before_answer

OPERATORS = ("+", "-", "*")
MAX_TERMS = 16  # longest question the grammar accepts
MAX_OPERAND_DIGITS = 3  # literals 0..999, written without leading zeros
MAX_QUESTION_CHARS = 256  # longer text is never a well-formed question (and is not scanned)
SLIP_OFFSETS = (-10, -2, -1, 1, 2, 10)  # how far a slip in a pretraining document puts one step off

CHALLENGER_PROMPT = "Pose a new arithmetic problem.\n"
SOLVER_TEMPLATE = "Problem: {question}\nSolution:\n"
QUESTION_OPEN, QUESTION_CLOSE = "<question>", "</question>"


class ParseError(ValueError):
    """Raised when a text is not a well-formed question; the message says where and why."""


@dataclass(frozen=True)
class Spec:
    """Difficulty knobs of the problem generator.

    n_terms: how many operands (operations = n_terms - 1).
    max_operand: operands are drawn uniformly from 1..max_operand.
    operators: the operators drawn uniformly between operands.
    max_abs_value: every partial result of the reduction stays within +-max_abs_value
        (rejection sampling), which keeps products from running away.
    """

    n_terms: int
    max_operand: int = 9
    operators: tuple[str, ...] = OPERATORS
    max_abs_value: int = 99

    def __post_init__(self) -> None:
        if not 2 <= self.n_terms <= MAX_TERMS:
            raise ValueError(f"Spec.n_terms must be in 2..{MAX_TERMS}, got {self.n_terms}")
        if not 1 <= self.max_operand < 10**MAX_OPERAND_DIGITS:
            raise ValueError(f"Spec.max_operand must be in 1..999, got {self.max_operand}")
        if not self.operators or any(op not in OPERATORS for op in self.operators):
            raise ValueError(f"Spec.operators must be a non-empty subset of {OPERATORS}")


def level_spec(level: int, operators: tuple[str, ...] = OPERATORS) -> Spec:
    """The generator knobs of difficulty `level` (= number of operations), 1..MAX_TERMS-1, drawing
    `operators` (a pretraining recipe may use `+` and `-` only: see rzero.base_model.pretrain)."""
    return Spec(n_terms=level + 1, operators=operators)


# ---------------------------------------------------------------------------------------------
# Parsing (the question grammar) and the oracle
# ---------------------------------------------------------------------------------------------


def parse_expression(text: str) -> tuple[list[int], list[str]]:
    """Parse `NUMBER (OP NUMBER)+` into operands and operators, or raise ParseError.

    Spaces between tokens are optional; any other character, a leading zero, a literal longer than
    MAX_OPERAND_DIGITS, a missing operand or more than MAX_TERMS terms is an error.
    """
    if len(text) > MAX_QUESTION_CHARS:
        raise ParseError(f"{len(text)} characters, a question has at most {MAX_QUESTION_CHARS}")
    operands: list[int] = []
    ops: list[str] = []
    i, n = 0, len(text)
    expect_number = True
    while i < n:
        ch = text[i]
        if ch == " ":
            i += 1
            continue
        if expect_number:
            j = i
            while j < n and "0" <= text[j] <= "9":
                j += 1
            literal = text[i:j]
            if not literal:
                raise ParseError(f"expected a number at position {i}, found {ch!r}")
            if len(literal) > 1 and literal[0] == "0":
                raise ParseError(f"leading zero in {literal!r} at position {i}")
            if len(literal) > MAX_OPERAND_DIGITS:
                raise ParseError(f"literal {literal!r} has more than {MAX_OPERAND_DIGITS} digits")
            operands.append(int(literal))
            if len(operands) > MAX_TERMS:
                raise ParseError(f"more than {MAX_TERMS} terms")
            i = j
        else:
            if ch not in OPERATORS:
                raise ParseError(f"expected an operator at position {i}, found {ch!r}")
            ops.append(ch)
            i += 1
        expect_number = not expect_number
    if expect_number:
        raise ParseError("expression is empty" if not operands else "expression ends with an operator")
    if not ops:
        raise ParseError("a question needs at least one operation")
    if len(operands) > MAX_TERMS:
        raise ParseError(f"{len(operands)} terms, at most {MAX_TERMS} allowed")
    return operands, ops


def format_expression(operands: list[int], ops: list[str]) -> str:
    """`[7, 3, 4], ['+', '*']` -> `7+3*4` (negative values print with their sign)."""
    parts = [str(operands[0])]
    for op, value in zip(ops, operands[1:], strict=True):
        parts += [op, str(value)]
    return "".join(parts)


def _apply(a: int, op: str, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    return a * b


def reduction_steps(
    operands: list[int], ops: list[str], slip: tuple[int, int] | None = None
) -> list[tuple[int, str, int, int, str]]:
    """Reduce one operation at a time: the leftmost `*` first, else the leftmost `+`/`-`.

    Returns (a, op, b, result, rewritten expression) per step; the rewritten expression of the last
    step is the bare result. `slip = (step, offset)` adds `offset` to that step's result and carries
    the wrong value on consistently: a worked solution with one mistake, as real text has.
    """
    values, pending = list(operands), list(ops)
    steps = []
    while pending:
        k = pending.index("*") if "*" in pending else 0
        a, op, b = values[k], pending[k], values[k + 1]
        result = _apply(a, op, b) + (slip[1] if slip and slip[0] == len(steps) else 0)
        values[k : k + 2] = [result]
        del pending[k]
        steps.append((a, op, b, result, format_expression(values, pending)))
    return steps


def evaluate(question: str) -> int:
    """Exact value of a question, from its text (the oracle). Raises ParseError on garbage."""
    operands, ops = parse_expression(question)
    return reduction_steps(operands, ops)[-1][3]


def worked_solution(question: str, slip: tuple[int, int] | None = None, style: str = "rewrite") -> str:
    """The scratchpad a perfect Solver writes for `question`, ending in `\\boxed{answer}` (with one
    mistake carried through when `slip` is given, see `reduction_steps`)."""
    steps = reduction_steps(*parse_expression(question), slip=slip)
    lines = []
    for a, op, b, result, rest in steps:
        step = f"{a}{op}{b}={result}"
        if style == "running":
            lines.append(step)
            continue
        lines.append(step if rest == str(result) else f"{step};{rest}")
    lines.append(f"\\boxed{{{steps[-1][3]}}}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The generator (answers computed independently of the oracle, as a sum of signed products)
# ---------------------------------------------------------------------------------------------


def _value_by_groups(operands: list[int], ops: list[str], limit: int) -> int | None:
    """Sum of signed products, computed left to right; None when a partial result exceeds `limit`."""
    total: int | None = None
    sign, product = 1, operands[0]
    for op, value in zip(ops + ["+"], operands[1:] + [0], strict=True):
        if op == "*":
            product *= value
            if abs(product) > limit:
                return None
            continue
        total = sign * product if total is None else total + sign * product
        if abs(total) > limit:
            return None
        sign, product = (1 if op == "+" else -1), value
    return total


def sample_problem(rng: random.Random, spec: Spec) -> tuple[str, int]:
    """Draw one question from `spec` and its exact answer."""
    while True:
        operands = [rng.randint(1, spec.max_operand) for _ in range(spec.n_terms)]
        ops = [rng.choice(spec.operators) for _ in range(spec.n_terms - 1)]
        value = _value_by_groups(operands, ops, spec.max_abs_value)
        if value is not None:
            return format_expression(operands, ops), value


# ---------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------


def parse_integer(text: str) -> int | None:
    """`'-14'`, `' 14 '`, `'+14'`, `'1,024'` -> int; anything else -> None."""
    cleaned = text.replace(" ", "").replace(",", "")
    body = cleaned[1:] if cleaned[:1] in "+-" else cleaned
    if not body or not body.isascii() or not body.isdigit() or len(body) > 30:
        return None
    return int(cleaned)


_REWRITTEN = re.compile(r"-?\d{1,30}(?:[-+*]\d{1,30})*")  # the rest after a step: its partial results may be long


def _signed_literal(text: str) -> bool:
    body = text[1:] if text[:1] == "-" else text
    return 0 < len(body) <= 30 and body.isascii() and body.isdigit()


def step_operation(line: str) -> tuple[int, str, int] | None:
    """The operation `(a, op, b)` of a scratchpad line that is one reduction step, or None.

        A step is `a OP b=r`, optionally followed by `;` and the rewritten expression (`3*4=12;7+12-5`,
        `3*4=12`): one operation of two literals on the left, a signed integer on the right, and a rest
        that is a signed integer or an expression (its first value may be negative, its partial results as
    long as they come: `99*99=9801;9801*99+1`). Spaces are ignored.
        Model text is only parsed (`parse_expression`), never evaluated; whether r is right is not asked."""
    text = line.replace(" ", "")
    step, _, rest = text.partition(";")
    left, equals, right = step.partition("=")
    if not equals or not _signed_literal(right) or (rest and not _REWRITTEN.fullmatch(rest)):
        return None
    try:
        operands, ops = parse_expression(left)
    except ParseError:
        return None
    return (operands[0], ops[0], operands[1]) if len(ops) == 1 else None


def shows_reduction(question: str, completion: str) -> bool:
    """Whether a completion works `question` out: some line before its final box is a reduction step
    (`step_operation`) of this problem, an operation whose two operands are both literals of the
    question (every worked solution starts with one; neither order nor adjacency is asked, so a
    Solver that reduces in the wrong order or miscopies a neighbour still works, and its wrong answer
    counts against its skill, not its habit). A bare newline, prose, an opener line such as `Work:`,
    the question repeated, or a step of some other problem do not count. For a one-operation
    question its only step is the question with its value."""
    try:
        literals = set(parse_expression(question)[0])
    except ParseError:
        return False
    for line in lines_before_answer(completion):
        step = step_operation(line)
        if step is not None and step[0] in literals and step[2] in literals:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# The Domain
# ---------------------------------------------------------------------------------------------


HELDOUT_FILE = "arithmetic_heldout.jsonl"
HELDOUT_SEED = 20250805  # the paper's arXiv id; never used for pretraining draws
HELDOUT_LEVELS = tuple(range(1, 9))
HELDOUT_PER_LEVEL = 64
PRETRAIN_LEVELS = tuple(range(1, MAX_TERMS))  # levels a pretraining corpus may draw


def make_heldout(
    seed: int = HELDOUT_SEED,
    per_level: int = HELDOUT_PER_LEVEL,
    levels: tuple[int, ...] = HELDOUT_LEVELS,
    operators: tuple[str, ...] = OPERATORS,
) -> list[Problem]:
    """The fixed held-out set: `per_level` distinct problems at each of `levels` (the shipped file
    uses the defaults; issue 13's testbed experiments used levels 1..10 with `+` and `-`)."""
    rng = random.Random(seed)
    problems: list[Problem] = []
    for level in levels:
        seen: set[str] = set()
        while len(seen) < per_level:
            question, answer = sample_problem(rng, level_spec(level, operators))
            if question not in seen:
                seen.add(question)
                problems.append(Problem(question, str(answer), level))
    return problems


@cache
def _load_heldout() -> tuple[Problem, ...]:
    text = resources.files("rzero.core.domains").joinpath(HELDOUT_FILE).read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return tuple(Problem(r["question"], r["answer"], int(r["difficulty"])) for r in rows)


class ArithmeticDomain:
    """The embedded default domain (see the module docstring)."""

    name = "arithmetic"

    def challenger_prompt(self) -> str:
        return CHALLENGER_PROMPT

    def solver_prompt(self, question: str) -> str:
        return SOLVER_TEMPLATE.format(question=question)

    def parse_question(self, completion: str) -> str | None:
        """The first `<question>...</question>` of a completion, canonicalised; None if malformed."""
        start = completion.find(QUESTION_OPEN)
        if start == -1:
            return None
        end = completion.find(QUESTION_CLOSE, start)
        if end == -1:
            return None
        try:
            operands, ops = parse_expression(completion[start + len(QUESTION_OPEN) : end])
        except ParseError:
            return None
        return format_expression(operands, ops)

    def extract_answer(self, completion: str) -> str | None:
        return last_boxed(completion)

    def equivalent(self, a: str, b: str) -> bool:
        x, y = parse_integer(a), parse_integer(b)
        if x is not None and y is not None:
            return x == y
        return a.strip() == b.strip()

    def bleu_tokens(self, question: str) -> list[str]:
        """Numbers and operators: the compact form has no spaces for a whitespace split to find."""
        try:
            operands, ops = parse_expression(question)
        except ParseError:
            return question.split()
        tokens = [str(operands[0])]
        for op, value in zip(ops, operands[1:], strict=True):
            tokens += [op, str(value)]
        return tokens

    def difficulty(self, question: str) -> int | None:
        try:
            return len(parse_expression(question)[1])
        except ParseError:
            return None

    def oracle(self, question: str) -> str | None:
        try:
            return str(evaluate(question))
        except ParseError:
            return None

    def heldout(self) -> list[Problem]:
        return list(_load_heldout())

    def shows_work(self, question: str, completion: str) -> bool:
        return shows_reduction(question, completion)

    # Documents of the pretraining corpus: one model learns both roles from them.

    def posing_document(self, question: str) -> str:
        """A text in which the Challenger prompt is followed by a well-formed question."""
        return f"{CHALLENGER_PROMPT}{QUESTION_OPEN}{question}{QUESTION_CLOSE}"

    def solving_document(
        self, question: str, slip: tuple[int, int] | None = None, style: str = "rewrite", opener: str = ""
    ) -> str:
        """A text in which the Solver prompt is followed by the worked solution, after an `opener`
        line when one is given (one of several equivalent ways to start working, e.g. `Work:`)."""
        head = f"{opener}\n" if opener else ""
        return self.solver_prompt(question) + head + worked_solution(question, slip, style)

    def answer_only_document(self, question: str, answer: int | None = None) -> str:
        """A text in which the Solver prompt is followed by an answer alone, no worked steps: the
        question's value, or `answer` when given (a hasty text's guess)."""
        value = evaluate(question) if answer is None else answer
        return f"{self.solver_prompt(question)}\\boxed{{{value}}}"

    def labelled_examples(
        self, count: int, seed: int, levels: tuple[int, ...] = HELDOUT_LEVELS
    ) -> list[tuple[str, str]]:
        """`count` (question, oracle worked solution) pairs, levels drawn uniformly from `levels`, none
        of them a held-out question: the small labelled set of the SFT experiment (`rzero sft`), never
        an input of the self-evolution loop."""
        rng = random.Random(seed)
        held = {p.question for p in _load_heldout()}
        pairs: list[tuple[str, str]] = []
        seen: set[str] = set()
        while len(pairs) < count:
            question, _ = sample_problem(rng, level_spec(rng.choice(levels)))
            if question not in held and question not in seen:
                seen.add(question)
                pairs.append((question, worked_solution(question)))
        return pairs
