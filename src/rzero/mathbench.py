"""The paper's math benchmarks from local JSONL files: loaders and a per-benchmark evaluator.

Files follow the layout of `../shared/data` (one folder per benchmark, `test.jsonl`). Every loader
returns `Problem`s with the gold answer as a string; where a file gives a worked solution instead
of an answer (Minerva), the gold is its last `\\boxed{}`. Scoring (greedy pass@1 as in the paper,
mean@k and maj@k when k > 0) is the evaluation stage's: `rzero.evaluate.benchmark_figures`. No
closed-API re-grading.
"""

from __future__ import annotations

import json
from pathlib import Path

from rzero.domains import Problem
from rzero.domains.arithmetic import last_boxed

BENCHMARKS = ("gsm8k", "math500", "amc23", "aime24", "minerva_math", "olympiadbench")


def _number_text(value) -> str:
    """27.0 -> '27'; other values as text."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _strip_dollars(text: str) -> str:
    text = text.strip()
    return text[1:-1].strip() if len(text) > 1 and text[0] == text[-1] == "$" else text


def gold_of(name: str, row: dict) -> tuple[str, str | None, str | None]:
    """(question, gold answer or None when the row has none, reference solution or None)."""
    question = row.get("problem") or row.get("question") or ""
    if name == "gsm8k":
        return row["question"], row["answer"].rsplit("####", 1)[1].strip().replace(",", ""), row["answer"]
    if name == "minerva_math":
        return question, last_boxed(row["solution"]), row["solution"]
    if name == "olympiadbench":
        answers = [_strip_dollars(a) for a in row.get("final_answer") or []]
        return question, ", ".join(answers) if answers else None, None
    answer = row.get("answer")
    solution = row.get("solution") if name == "math500" else None  # AIME/AMC solutions are free prose
    return question, None if answer is None else _number_text(answer), solution


def load_benchmark(name: str, data_dir: str | Path, limit: int = 0) -> tuple[list[Problem], list[str | None], list]:
    """Problems of one benchmark (gold-less rows left out and reported), their reference solutions,
    and the indices of rows without a usable gold answer."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
    path = Path(data_dir) / name / "test.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (expected the layout of ../shared/data)")
    problems, solutions, missing = [], [], []
    for index, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        question, gold, solution = gold_of(name, json.loads(line))
        if not gold or not question:
            missing.append(index)
            continue
        problems.append(Problem(question, gold, 0))
        solutions.append(solution)
        if limit and len(problems) == limit:
            break
    return problems, solutions, missing
