"""Domains: what a problem looks like, how it is posed, solved, parsed and checked.

A Domain is the only place that knows the surface form of questions and answers. The loop, the
rewards and the voting code talk to it through the small `Domain` protocol below, so that the
embedded `arithmetic` domain and a `math` domain (boxed answers, math-verify) are interchangeable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

_BRACES = re.compile(r"[{}]")


@dataclass(frozen=True)
class Problem:
    """A held-out problem with exact ground truth (evaluation only, never a training signal)."""

    question: str
    answer: str
    difficulty: int


def load_problems(path) -> list[Problem]:
    """Held-out problems from a JSONL file of `question`, `answer` and `difficulty` (`eval.heldout_file`,
    as `arithmetic.make_heldout` writes them). Errors name the file and line."""
    from rzero.core.rundir import iter_jsonl

    problems = []
    for number, row in iter_jsonl(path):
        try:
            problems.append(Problem(str(row["question"]), str(row["answer"]), int(row["difficulty"])))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}:{number}: expected JSON with question, answer and integer difficulty") from None
    if not problems:
        raise ValueError(f"{path}: no held-out problems")
    return problems


def lines_before_answer(completion: str) -> list[str]:
    """The non-blank lines of a completion before its final `\\boxed` (all of it when it boxes
    nothing), stripped: where a worked solution writes its steps."""
    head = completion.rsplit("\\boxed", 1)[0]
    return [line.strip() for line in head.split("\n") if line.strip()]


def question_key(text: str) -> str:
    """A question's text without case or whitespace: two questions with the same key are the same
    question (the held-out screen of the curriculum compares keys)."""
    return "".join(text.casefold().split())


_DIGIT = re.compile(r"\d")


_PROSE_PREFIX = re.compile(r"^(?:[A-Za-z]{2,},?\s+)+")
_ANSWER_PHRASE = re.compile(r"^(?:so|thus|therefore|hence)?[,\s]*(?:the\s+)?(?:final\s+)?answer\b", re.IGNORECASE)


def _equation_core(line: str) -> str:
    """The equation a line states, without a label (`Given:`), leading prose (`We have`) or closing
    punctuation: `We have 2x + 3 = 7.` -> `2x + 3 = 7`."""
    core = line.rsplit(":", 1)[-1].strip().rstrip(".,;")
    return _PROSE_PREFIX.sub("", core)


def shows_equation(question: str, completion: str) -> bool:
    """The conservative worked-solution test of domains without a step grammar (math, benchmarks):
    some line before the final box states an equation with a number in it (text on both sides of an
    `=`, a digit somewhere) that is neither the question or a piece of it repeated (a label or leading
    prose aside), nor the answer announced (`The answer is x = 2`, or `x = 2` for a boxed 2). A bare
    newline, prose and the box alone fail."""
    asked, boxed = question_key(question), question_key(last_boxed(completion) or "")
    for line in lines_before_answer(completion):
        if _ANSWER_PHRASE.match(line):
            continue
        core = _equation_core(line)
        left, equals, right = core.partition("=")
        if not (equals and left.strip() and right.strip() and _DIGIT.search(core)):
            continue
        if question_key(core) in asked:
            continue
        if boxed and len(left.split()) == 1 and question_key(right) == boxed:
            continue  # `x = 2` before \boxed{2}: the answer, not its working
        return True
    return False


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` whose braces balance, or None: the answer form that every
    shipped domain and benchmark scorer reads.

    One pass over the text (hostile output such as a megabyte of unclosed `\\boxed{` must not cost
    quadratic time): braces are matched with a stack, and only the openings that follow `\\boxed`
    are remembered."""
    marker = "\\boxed{"
    starts = set()
    position = text.find(marker)
    while position != -1:
        starts.add(position + len(marker) - 1)  # index of the opening brace
        position = text.find(marker, position + 1)
    if not starts:
        return None
    closes: dict[int, int] = {}
    stack: list[int] = []
    for match in _BRACES.finditer(text):
        index = match.start()
        if text[index] == "{":
            stack.append(index)
        elif stack:
            opening = stack.pop()
            if opening in starts:
                closes[opening] = index
    if not closes:
        return None
    opening = max(closes)
    return text[opening + 1 : closes[opening]].strip()


class Domain(Protocol):
    """What the loop needs to know about a family of problems."""

    name: str

    def challenger_prompt(self) -> str:
        """The fixed prompt that asks the Challenger for one new question."""
        ...

    def solver_prompt(self, question: str) -> str:
        """The prompt that asks the Solver to answer `question`."""
        ...

    def parse_question(self, completion: str) -> str | None:
        """The canonical question in a Challenger completion, or None when it is malformed."""
        ...

    def extract_answer(self, completion: str) -> str | None:
        """The final answer in a Solver completion, or None when there is none."""
        ...

    def equivalent(self, a: str, b: str) -> bool:
        """Whether two extracted answers mean the same thing."""
        ...

    def bleu_tokens(self, question: str) -> list[str]:
        """Tokens of a question for the repetition penalty's BLEU (reference: whitespace split)."""
        ...

    def difficulty(self, question: str) -> int | None:
        """A coarse difficulty level of a canonical question, for diagnostics."""
        ...

    def oracle(self, question: str) -> str | None:
        """Exact answer of a canonical question (diagnostics only), or None if the domain has none."""
        ...

    def heldout(self) -> list[Problem]:
        """The fixed held-out benchmark of the domain."""
        ...

    def shows_work(self, question: str, completion: str) -> bool:
        """Whether a Solver completion works `question` out before its final answer (a line that is a
        step of this problem's solution in the domain's surface form), rather than answering hastily
        with the box alone. Habit-versus-skill diagnostics (issues 13, 21, 30) split accuracy by it;
        no reward reads it."""
        ...


def get_domain(name: str) -> Domain:
    """The domain called `name`; a plain `if`, not a registry."""
    if name == "arithmetic":
        from rzero.core.domains.arithmetic import ArithmeticDomain

        return ArithmeticDomain()
    if name == "math":
        from rzero.core.domains.math import MathDomain

        return MathDomain()
    if name == "skills":
        from rzero.core.domains.skills import SkillsDomain

        return SkillsDomain()
    raise ValueError(f"domain: unknown domain {name!r} (known: 'arithmetic', 'math', 'skills')")


class ChatPrompts:
    """A domain whose two prompts are rendered with a tokenizer's chat template (one user turn and
    the assistant header), everything else delegated unchanged. Prompts stay plain strings, so the
    HF and vLLM generators and TRL's trainers all see exactly the same text."""

    def __init__(self, domain: Domain, tokenizer) -> None:
        self.domain, self.tokenizer = domain, tokenizer

    def render(self, text: str) -> str:
        messages = [{"role": "user", "content": text}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def challenger_prompt(self) -> str:
        return self.render(self.domain.challenger_prompt())

    def solver_prompt(self, question: str) -> str:
        return self.render(self.domain.solver_prompt(question))

    def __getattr__(self, name: str):
        if name in ("domain", "tokenizer"):  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.domain, name)


def with_chat_template(domain: Domain, model_dir, mode: str = "auto") -> Domain:
    """`domain` with prompts rendered by the chat template of the tokenizer in `model_dir` when
    mode is "auto" and the tokenizer has one (the paper's Qwen3 base models do; the embedded
    default does not); "never" keeps raw prompts."""
    if mode == "never":
        return domain
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return ChatPrompts(domain, tokenizer) if getattr(tokenizer, "chat_template", None) else domain
