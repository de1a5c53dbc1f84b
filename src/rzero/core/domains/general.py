"""Scoring for the paper's general-reasoning benchmarks: multiple choice (MMLU-Pro, SuperGPQA) and
exact match (BBEH). Evaluation only: these never pose or train anything.

Both ask for the final answer in `\\boxed{}` as the math prompts do. Multiple choice takes the letter
from the last `\\boxed{}` (`C`, `(C)`, `C.`, `\\text{C}`, `C) text`), else from the last "answer is
(C)" / "Answer: C". Unlike the usual MMLU-Pro script there is no random-letter fallback: an answer
without a readable letter is missing, and so wrong.
"""

from __future__ import annotations

import re
import string

from rzero.core.domains import last_boxed, shows_equation

LETTERS = string.ascii_uppercase[:10]  # MMLU-Pro and SuperGPQA have up to 10 options, A..J

_LETTER_ALONE = re.compile(r"^\(?([A-J])\)?(?:[.:)]|\s|$)")
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?\s*\(?([A-J])\)?(?![A-Za-z])", re.I)
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf)\{([^{}]*)\}")


def format_choices(question: str, options: list[str]) -> str:
    """The question followed by one `A. option` line per option."""
    if len(options) > len(LETTERS):
        raise ValueError(f"{len(options)} options; at most {len(LETTERS)} are supported")
    lines = [f"{letter}. {str(option).strip()}" for letter, option in zip(LETTERS, options, strict=False)]
    return question.strip() + "\n" + "\n".join(lines)


def choice_letter(completion: str) -> str | None:
    """The chosen option letter of a completion, or None when no letter can be read."""
    boxed = last_boxed(completion)
    if boxed is not None:
        found = _LETTER_ALONE.match(_TEXT_WRAP.sub(r"\1", boxed).strip())
        return found.group(1) if found else None
    matches = _ANSWER_IS.findall(completion)
    return matches[-1].upper() if matches else None


class MultipleChoice:
    """MMLU-Pro / SuperGPQA: the gold answer is a letter; two answers agree when the letters do."""

    name = "multiple_choice"
    SOLVER_TEMPLATE = (
        "{question}\nPlease reason step by step, and put the letter of the correct option within \\boxed{{}}.\n"
    )

    def solver_prompt(self, question: str) -> str:
        return self.SOLVER_TEMPLATE.format(question=question)

    def extract_answer(self, completion: str) -> str | None:
        return choice_letter(completion)

    def equivalent(self, a: str, b: str) -> bool:
        return a.strip().upper() == b.strip().upper()

    def shows_work(self, question: str, completion: str) -> bool:
        return shows_equation(question, completion)


def normalize_exact(answer: str) -> str:
    """Lower case, `\\text{}` unwrapped, outer quotes/brackets and final period removed, spaces collapsed."""
    s = _TEXT_WRAP.sub(r"\1", answer).strip().lower()
    while len(s) > 1 and s[0] + s[-1] in ('""', "''", "()", "[]", "``"):
        s = s[1:-1].strip()
    return " ".join(s.rstrip(".").split())


_FINAL_ANSWER = re.compile(r"(?:final answer(?: is)?|the answer is)\s*:?\s*(.+?)\s*$", re.I | re.M)


class ExactMatch:
    """BBEH: free-form targets (words, numbers, lists) compared after `normalize_exact`."""

    name = "exact_match"
    SOLVER_TEMPLATE = "{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}.\n"

    def solver_prompt(self, question: str) -> str:
        return self.SOLVER_TEMPLATE.format(question=question)

    def extract_answer(self, completion: str) -> str | None:
        boxed = last_boxed(completion)
        if boxed is not None:
            return boxed.strip() or None
        matches = _FINAL_ANSWER.findall(completion)
        return matches[-1].strip() or None if matches else None

    def equivalent(self, a: str, b: str) -> bool:
        return normalize_exact(a) == normalize_exact(b)

    def shows_work(self, question: str, completion: str) -> bool:
        return shows_equation(question, completion)
