"""The `math` domain: free-form problems with boxed answers, checked with math-verify.

Answer extraction takes the content of the last balanced `\\boxed{...}`; when there is none it falls
back, in a configurable order, to GSM8K's `#### x`, `The answer is x` and `A: x`. Equivalence is
exact string equality after a light normalisation first (cheap, and most votes agree verbatim),
then math-verify (fractions vs decimals, percent, set order, pi, ...) in a worker pool with a hard
per-check timeout (`rzero.core.verify`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from rzero.core.domains import last_boxed, shows_equation
from rzero.core.verify import VerifyPool, shared_pool

Fallback = Literal["hash", "answer_is", "a_colon"]
DEFAULT_FALLBACKS: tuple[Fallback, ...] = ("hash", "answer_is", "a_colon")

_FALLBACK_PATTERNS: dict[str, re.Pattern[str]] = {
    "hash": re.compile(r"####\s*(.+?)\s*$", re.M),
    "answer_is": re.compile(r"[Tt]he (?:final )?answer is[:\s]*(.+?)\s*$", re.M),
    "a_colon": re.compile(r"^\s*A:\s*(.+?)\s*$", re.M),
}

_LATEX_NOISE = re.compile(r"\\left|\\right|\\!|\\,|\\;|\\:|\\displaystyle|\^\{?\\circ\}?|\\%|%|\$")
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")


def extract_answer(text: str, fallbacks: Sequence[Fallback] = DEFAULT_FALLBACKS) -> str | None:
    """The last `\\boxed{}` content; else the last match of each fallback pattern, in order; else None."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    for name in fallbacks:
        if name not in _FALLBACK_PATTERNS:
            raise ValueError(f"answer fallback {name!r} unknown (known: {sorted(_FALLBACK_PATTERNS)})")
        matches = _FALLBACK_PATTERNS[name].findall(text)
        if matches:
            answer = matches[-1].strip().rstrip(".").strip()
            if answer:
                return answer
    return None


def normalize(answer: str) -> str:
    """A light canonical form for exact comparison: no spaces, `$`, `\\left`, units in `\\text{}`,
    degree marks, trailing period; `dfrac`/`tfrac` -> `frac`; thousands separators removed from
    plain numbers."""
    s = _TEXT_WRAP.sub(r"\1", answer.strip())
    s = _LATEX_NOISE.sub("", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace(" ", "").rstrip(".")
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    if re.fullmatch(r"[-+]?\d+\.\d*?0+", s):  # 2.50 -> 2.5, 3.0 -> 3
        s = s.rstrip("0").rstrip(".")
    return s


_PROOF = re.compile(r"\b(prove|proof|show that|demonstrate that|justify)\b", re.I)
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_WORD = re.compile(r"[A-Za-z]{2,}")


def asks_for_proof(question: str) -> bool:
    """Questions whose answer is an argument, not a value (the reference code drops them)."""
    return _PROOF.search(question) is not None


def is_prose(answer: str) -> bool:
    """An answer that is a sentence rather than a value: three or more words outside LaTeX commands
    and `\\text{}` units (the reference code drops questions whose answers contain prose)."""
    bare = _LATEX_COMMAND.sub(" ", _TEXT_WRAP.sub(" ", answer))
    return len(_WORD.findall(bare)) >= 3


class MathDomain:
    """Boxed-answer math. Question generation by the Challenger uses `<question>` tags."""

    name = "math"
    CHALLENGER_PROMPT = (  # the paper's format: the question in tags, then its answer boxed
        "You set competition mathematics problems. Pose one new, challenging problem that has a single "
        "numerical or symbolic final answer and needs several steps of reasoning; do not ask for a proof. "
        "Write the problem between <question> and </question>, then give its final answer within \\boxed{}.\n"
    )
    SOLVER_TEMPLATE = "{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}.\n"

    def __init__(self, fallbacks: Sequence[Fallback] = DEFAULT_FALLBACKS, pool: VerifyPool | None = None) -> None:
        self.fallbacks = tuple(fallbacks)
        self._pool = pool

    @property
    def pool(self) -> VerifyPool:
        if self._pool is None:
            self._pool = shared_pool()
        return self._pool

    def challenger_prompt(self) -> str:
        return self.CHALLENGER_PROMPT

    def solver_prompt(self, question: str) -> str:
        return self.SOLVER_TEMPLATE.format(question=question)

    def parse_question(self, completion: str) -> str | None:
        start = completion.find("<question>")
        end = completion.find("</question>", start + 1) if start != -1 else -1
        question = completion[start + len("<question>") : end].strip() if end != -1 else ""
        return question if question and not asks_for_proof(question) else None

    def extract_answer(self, completion: str) -> str | None:
        """The final answer, or None when it is prose (it then counts as missing in the vote)."""
        answer = extract_answer(completion, self.fallbacks)
        return None if answer is None or is_prose(answer) else answer

    def equivalent(self, a: str, b: str) -> bool:
        if normalize(a) == normalize(b):
            return True
        return self.pool.check(a, b)

    def bleu_tokens(self, question: str) -> list[str]:
        return question.split()

    def difficulty(self, question: str) -> int | None:
        return None

    def oracle(self, question: str) -> str | None:
        return None

    def heldout(self) -> list:
        raise NotImplementedError("the math domain evaluates JSONL benchmarks: set eval.benchmarks")

    def shows_work(self, question: str, completion: str) -> bool:
        """No step grammar for free-form math: the conservative equation test (`shows_equation`)."""
        return shows_equation(question, completion)
