"""The `skills` testbed domain: twelve problem families, each its own latent skill (issue 31).

R-Zero's Challenger can only matter where the Solver's latent gains are many and separate: several
skills the base model has but greedy decoding does not use, where practice on one does not unlock the
others, and where the base model, posing from its own corpus, rarely poses the ones that would. This
domain gives a tiny model that shape. A question is a family keyword and its integers:

    add 7 3 9 4 2       sum              ->  25
    mnx 34 81 52 17     largest          ->  81
    rev 4827            digits reversed  ->  7284

A worked solution opens with the family's own opener line (`Adding:`), writes one step per line in the
family's own step form (`7+3=10`), and boxes the answer; a hasty one writes the family's own hasty
word and a boxed guess (`total \\boxed{25}`). Every step is one a 3M-parameter model can learn: one-digit
operands, or comparisons and copies (two-digit sums were not learnt: docs/testbeds.md, base a2).

Openers and hasty words differ by family, so that the decision greedy decoding takes at the first
token after `Solution:` (work it out or guess) is a different pair of tokens in each family: a habit
learnt in one family has no shared token to carry it to the next (issue 31's independence screen
measures whether it carries anyway: docs/testbeds.md).

Difficulty is the family's number (1..12), so the loop's per-difficulty tables and habit figures read
per family. The oracle (evaluation only, never a training signal) computes the answer from the parsed
integers; model output is parsed, never evaluated.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from rzero.core.domains import Problem, last_boxed, lines_before_answer, load_problems
from rzero.core.domains.arithmetic import parse_integer

CHALLENGER_PROMPT = "Pose a new problem.\n"
SOLVER_TEMPLATE = "Problem: {question}\nSolution:\n"
QUESTION_OPEN, QUESTION_CLOSE = "<question>", "</question>"
MAX_QUESTION_CHARS = 64


@dataclass(frozen=True)
class Family:
    """One problem family: its keyword, its argument shape and its two openings."""

    keyword: str
    opener: str  # first line of a worked solution
    hasty: str  # the word before a guessed box
    counts: tuple[int, ...]  # how many integers a question may have
    low: int  # every integer lies in low..high
    high: int
    step: str  # regular expression of one worked step line (shows_work)


# Families 1-4 are the base model's fluent ones in the shipped recipe (most posing documents, most
# solving documents worked); 5-12 are latent. Openers start with distinct capitals and hasty words with
# distinct small letters, so that each is its own first token whatever the tokenizer merges.
FAMILIES: tuple[Family, ...] = (
    Family("add", "Adding:", "total", (5,), 1, 9, r"\d+\+\d=\d+"),
    Family("sub", "Subtracting:", "remains", (4,), 1, 99, r"\d+-\d=\d+"),
    Family("mul", "Multiplying:", "product", (3,), 2, 9, r"\d+\*\d=\d+"),
    Family("dbl", "Doubling:", "doubled", (2,), 2, 25, r"2x\d+=\d+"),
    Family("mnx", "Ranking:", "largest", (4,), 10, 99, r"max\(\d+,\d+\)=\d+"),
    Family("mnn", "Keeping:", "smallest", (4,), 10, 99, r"min\(\d+,\d+\)=\d+"),
    Family("dig", "Expanding:", "weight", (1,), 10000, 99999, r"\d\+\d+=\d+|\d+\+\d=\d+"),
    Family("rev", "Flipping:", "backwards", (1,), 1000, 9999, r"\d>\d+"),
    Family("nxt", "Jumping:", "continues", (3,), 1, 99, r"\d+-\d+=\d|\d+\+\d=\d+"),
    Family("srt", "Ordering:", "ordered", (1,), 1000, 9999, r"\d+:\d"),
    Family("hlf", "Halving:", "halved", (2,), 2, 200, r"\d+/2=\d+"),
    Family("rot", "Lifting:", "moved", (1,), 1000, 9999, r"\d\|\d+"),
)
KEYWORDS = {family.keyword: number for number, family in enumerate(FAMILIES, 1)}


def well_formed(number: int, args: list[int]) -> bool:
    """Whether `args` is a well-formed question of family `number` (the generator's own constraints)."""
    family = FAMILIES[number - 1]
    if len(args) not in family.counts or any(not family.low <= a <= family.high for a in args):
        return False
    if family.keyword == "sub":  # `sub N a b c`: N in 30..99 less three digits
        return args[0] >= 30 and all(1 <= a <= 9 for a in args[1:])
    if family.keyword == "mul":  # every partial product within 99: a times table, not long multiplication
        return args[0] * args[1] <= 99 and args[0] * args[1] * args[2] <= 99
    if family.keyword == "nxt":
        return (
            2 <= args[1] - args[0] <= 9 and args[2] - args[1] == args[1] - args[0] and args[2] + args[1] - args[0] <= 99
        )
    if family.keyword == "dbl":
        return args[1] in (2, 3, 4)  # `dbl N K`: double N K times
    if family.keyword == "rev":
        return args[0] % 10 != 0  # a reversed number never starts with 0
    if family.keyword == "rot":
        return str(args[0])[1] != "0"  # the rotated number never starts with 0
    if family.keyword == "hlf":  # `hlf N K`: halve N (8..200) K times (2 or 3), every half an integer
        return args[1] in (2, 3) and args[0] >= 8 and args[0] % (2 ** args[1]) == 0
    return True


def solve(number: int, args: list[int]) -> tuple[list[str], int]:
    """The worked step lines and the exact answer of a well-formed question."""
    key = FAMILIES[number - 1].keyword
    lines: list[str] = []
    if key in ("add", "sub", "mul"):
        sign = {"add": "+", "sub": "-", "mul": "*"}[key]
        value = args[0]
        for b in args[1:]:
            new = value + b if key == "add" else value - b if key == "sub" else value * b
            lines.append(f"{value}{sign}{b}={new}")
            value = new
        return lines, value
    if key == "dbl":
        value = args[0]
        for _ in range(args[1]):
            lines.append(f"2x{value}={2 * value}")
            value *= 2
        return lines, value
    if key in ("mnx", "mnn"):
        pick, name = (max, "max") if key == "mnx" else (min, "min")
        value = args[0]
        for b in args[1:]:
            new = pick(value, b)
            lines.append(f"{name}({value},{b})={new}")
            value = new
        return lines, value
    if key == "dig":
        digits = [int(d) for d in str(args[0])]
        value = digits[0]
        for d in digits[1:]:
            lines.append(f"{value}+{d}={value + d}")
            value += d
        return lines, value
    if key == "rev":
        text, done = str(args[0]), ""
        for d in reversed(text):
            done += d
            lines.append(f"{d}>{done}")
        return lines, int(done)
    if key == "nxt":
        gap = args[1] - args[0]
        return [f"{args[1]}-{args[0]}={gap}", f"{args[2]}+{gap}={args[2] + gap}"], args[2] + gap
    if key == "srt":
        rest, done = str(args[0]), ""
        while rest:
            top = max(rest)
            lines.append(f"{rest}:{top}")
            rest = rest.replace(top, "", 1)
            done += top
        return lines, int(done)
    if key == "hlf":
        value = args[0]
        for _ in range(args[1]):
            lines.append(f"{value}/2={value // 2}")
            value //= 2
        return lines, value
    text = str(args[0])  # rot: the first digit moves to the end
    return [f"{text[0]}|{text[1:]}"], int(text[1:] + text[0])


def sample_question(rng: random.Random, number: int) -> tuple[str, int]:
    """One random question of family `number` and its exact answer."""
    family = FAMILIES[number - 1]
    while True:
        if family.keyword == "hlf":
            times = rng.choice((2, 3))
            args = [rng.randint(1, 200 // 2**times) * 2**times, times]
        elif family.keyword == "dbl":
            args = [rng.randint(family.low, family.high), rng.choice((2, 3, 4))]
        elif family.keyword == "nxt":
            start, gap = rng.randint(1, 70), rng.randint(2, 9)
            args = [start, start + gap, start + 2 * gap]
        elif family.keyword == "sub":
            args = [rng.randint(30, 99), *(rng.randint(1, 9) for _ in range(3))]
        else:
            count = rng.choice(family.counts)
            args = [rng.randint(family.low, family.high) for _ in range(count)]
        if well_formed(number, args):
            return format_question(number, args), solve(number, args)[1]


def format_question(number: int, args: list[int]) -> str:
    return " ".join([FAMILIES[number - 1].keyword, *map(str, args)])


def parse_question_text(text: str) -> tuple[int, list[int]] | None:
    """(family number, integers) of a question's text, or None when it is not well formed."""
    if len(text) > MAX_QUESTION_CHARS:
        return None
    words = text.split()
    if len(words) < 2 or words[0] not in KEYWORDS:
        return None
    if not all(w.isascii() and w.isdigit() and len(w) <= 6 and (w == "0" or w[0] != "0") for w in words[1:]):
        return None
    number, args = KEYWORDS[words[0]], [int(w) for w in words[1:]]
    return (number, args) if well_formed(number, args) else None


HELDOUT_FILE = "skills_heldout.jsonl"
HELDOUT_SEED = 20250805  # never used for pretraining draws
HELDOUT_PER_FAMILY = 32


def make_heldout(
    seed: int = HELDOUT_SEED,
    per_family: int = HELDOUT_PER_FAMILY,
    families: tuple[int, ...] = tuple(range(1, len(FAMILIES) + 1)),
    exclude: frozenset[str] = frozenset(),
) -> list[Problem]:
    """`per_family` distinct questions of each of `families`, none in `exclude`: the held-out set, spread
    evenly (the defaults), or fresh problems beside it (the screens). A small family (dbl and hlf have
    about 72 questions) yields fewer when `exclude` leaves too few: the draw stops after 200 tries a
    question."""
    rng = random.Random(seed)
    problems = []
    for number in families:
        seen: set[str] = set()
        for _ in range(200 * per_family):
            if len(seen) == per_family:
                break
            question, answer = sample_question(rng, number)
            if question not in exclude and question not in seen:
                seen.add(question)
                problems.append(Problem(question, str(answer), number))
    return problems


def _parsed(question: str) -> tuple[int, list[int]]:
    """`parse_question_text` of a question a document is made of, which must be well formed."""
    parsed = parse_question_text(question)
    if parsed is None:
        raise ValueError(f"skills: {question!r} is not a well-formed question")
    return parsed


@cache
def _load_heldout() -> tuple[Problem, ...]:
    return tuple(load_problems(Path(str(resources.files("rzero.core.domains").joinpath(HELDOUT_FILE)))))


class SkillsDomain:
    """The many-skills testbed domain (see the module docstring)."""

    name = "skills"

    def challenger_prompt(self) -> str:
        return CHALLENGER_PROMPT

    def solver_prompt(self, question: str) -> str:
        return SOLVER_TEMPLATE.format(question=question)

    def parse_question(self, completion: str) -> str | None:
        """The first `<question>...</question>` of a completion, canonicalised; None if malformed."""
        start = completion.find(QUESTION_OPEN)
        end = completion.find(QUESTION_CLOSE, start) if start != -1 else -1
        if end == -1:
            return None
        parsed = parse_question_text(completion[start + len(QUESTION_OPEN) : end])
        return format_question(*parsed) if parsed else None

    def extract_answer(self, completion: str) -> str | None:
        return last_boxed(completion)

    def equivalent(self, a: str, b: str) -> bool:
        x, y = parse_integer(a), parse_integer(b)
        if x is not None and y is not None:
            return x == y
        return a.strip() == b.strip()

    def bleu_tokens(self, question: str) -> list[str]:
        return question.split()

    def difficulty(self, question: str) -> int | None:
        """The family's number: per-difficulty tables read per family."""
        parsed = parse_question_text(question)
        return parsed[0] if parsed else None

    def oracle(self, question: str) -> str | None:
        parsed = parse_question_text(question)
        return str(solve(*parsed)[1]) if parsed else None

    def heldout(self) -> list[Problem]:
        return list(_load_heldout())

    def shows_work(self, question: str, completion: str) -> bool:
        """Some line before the final box is a step in the question's own family's step form."""
        parsed = parse_question_text(question)
        if parsed is None:
            return False
        step = re.compile(FAMILIES[parsed[0] - 1].step)
        return any(step.fullmatch(line.replace(" ", "")) for line in lines_before_answer(completion))

    # Documents of the pretraining corpus.

    def posing_document(self, question: str) -> str:
        return f"{CHALLENGER_PROMPT}{QUESTION_OPEN}{question}{QUESTION_CLOSE}"

    def solving_document(self, question: str) -> str:
        number, args = _parsed(question)
        lines, answer = solve(number, args)
        body = "\n".join([FAMILIES[number - 1].opener, *lines])
        return f"{self.solver_prompt(question)}{body}\n\\boxed{{{answer}}}"

    def answer_only_document(self, question: str, answer: int) -> str:
        number, _ = _parsed(question)
        return f"{self.solver_prompt(question)}{FAMILIES[number - 1].hasty} \\boxed{{{answer}}}"


def corpus(
    rng: random.Random,
    documents: int,
    posing_fraction: float,
    family_weights: dict[int, float],
    posing_weights: dict[int, float],
    worked_fraction: dict[int, float],
    exclude: set[str],
) -> list[str]:
    """A pretraining corpus of posing and solving documents (`rzero pretrain-base` with a recipe whose
    `domain` is "skills"; family numbers key the level-keyed recipe fields). Posing documents draw their
    family from `posing_weights` (as `family_weights` when empty), solving documents from
    `family_weights`; a solving document is worked with the family's `worked_fraction` (1.0 when
    unlisted), else hasty: the hasty word and the answer of another question of the same family (a
    guess whose errors scatter, issue 21)."""
    domain = SkillsDomain()
    solving = (sorted(family_weights), [family_weights[k] for k in sorted(family_weights)])
    posing_weights = posing_weights or family_weights
    posing = (sorted(posing_weights), [posing_weights[k] for k in sorted(posing_weights)])
    docs: list[str] = []
    while len(docs) < documents:
        pose = rng.random() < posing_fraction
        number = rng.choices(*(posing if pose else solving))[0]
        question, _ = sample_question(rng, number)
        if question in exclude:
            continue
        if pose:
            docs.append(domain.posing_document(question))
        elif rng.random() < worked_fraction.get(number, 1.0):
            docs.append(domain.solving_document(question))
        else:
            docs.append(domain.answer_only_document(question, sample_question(rng, number)[1]))
    return docs
