"""The paper's evaluation suites: loaders for the seven math benchmarks and the three general-reasoning
ones, and the scorer (domain) each is checked with.

Files live in `eval.data_dir` (`~` expanded): one folder per benchmark holding `test.jsonl`, as
`rzero data fetch` writes them (`rzero.core.evalfetch`: the Hub rows as they are). When a folder is
missing and the Hub is reachable (HF_HUB_OFFLINE unset), the Hugging Face dataset in `HUB` is read instead.
Every loader returns `Problem`s with the gold answer as a string; where a file gives a worked solution
instead of an answer (Minerva), the gold is its last `\\boxed{}`. Scoring (greedy pass@1 as in the
paper, mean@k and maj@k when k > 0) is the evaluation stage's: `rzero.stages.evaluate.benchmark_figures`.
No closed-API re-grading.
"""

from __future__ import annotations

import os
from pathlib import Path

from rzero.core.domains import Problem, last_boxed
from rzero.core.domains.general import LETTERS, ExactMatch, MultipleChoice, format_choices
from rzero.core.rundir import read_jsonl

MATH_BENCHMARKS = ("gsm8k", "math500", "amc23", "aime24", "aime25", "minerva_math", "olympiadbench")
CHOICE_BENCHMARKS = ("mmlu_pro", "supergpqa")
EXACT_BENCHMARKS = ("bbeh",)
BENCHMARKS = MATH_BENCHMARKS + CHOICE_BENCHMARKS + EXACT_BENCHMARKS

HUB: dict[str, tuple[str, str | None, str]] = {  # name -> (dataset, configuration, split)
    "gsm8k": ("openai/gsm8k", "main", "test"),
    "math500": ("HuggingFaceH4/MATH-500", None, "test"),
    "amc23": ("math-ai/amc23", None, "test"),
    "aime24": ("HuggingFaceH4/aime_2024", None, "train"),
    "aime25": ("math-ai/aime25", None, "test"),
    "minerva_math": ("math-ai/minervamath", None, "test"),
    "olympiadbench": ("Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train"),
    "mmlu_pro": ("TIGER-Lab/MMLU-Pro", None, "test"),
    "supergpqa": ("m-a-p/SuperGPQA", None, "train"),
    "bbeh": ("BBEH/bbeh", None, "train"),
}


def _number_text(value) -> str:
    """27.0 -> '27'; other values as text."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _strip_dollars(text: str) -> str:
    text = text.strip()
    return text[1:-1].strip() if len(text) > 1 and text[0] == text[-1] == "$" else text


def _choice_gold(row: dict) -> str | None:
    """The gold letter: `answer_letter` (SuperGPQA), a letter `answer` (MMLU-Pro), or `answer_index`."""
    for key in ("answer_letter", "answer"):
        value = str(row.get(key) or "").strip().strip("()").upper()
        if len(value) == 1 and value in LETTERS:
            return value
    index = row.get("answer_index")
    return LETTERS[index] if isinstance(index, int) and 0 <= index < len(LETTERS) else None


def gold_of(name: str, row: dict) -> tuple[str, str | None, str | None]:
    """(question as posed, gold answer or None when the row has none, reference solution or None)."""
    question = row.get("problem") or row.get("question") or ""
    if name in CHOICE_BENCHMARKS:
        options = row.get("options") or []
        return (format_choices(question, options) if options else ""), _choice_gold(row), None
    if name == "bbeh":
        return row.get("input") or question, str(row.get("target") or "").strip() or None, None
    if name == "gsm8k":
        return row["question"], row["answer"].rsplit("####", 1)[1].strip().replace(",", ""), row["answer"]
    if name == "minerva_math" and "solution" in row:
        return question, last_boxed(row["solution"]), row["solution"]
    if name == "olympiadbench":
        answers = [_strip_dollars(a) for a in row.get("final_answer") or []]
        return question, ", ".join(answers) if answers else None, None
    answer = row.get("answer")
    solution = row.get("solution") if name == "math500" else None  # AIME/AMC solutions are free prose
    return question, None if answer is None else _number_text(answer), solution


def benchmark_names(spec: str) -> list[str]:
    """The names in a comma-separated `eval.benchmarks` value, blanks dropped."""
    return [name.strip() for name in spec.split(",") if name.strip()]


def unknown_benchmark(spec: str) -> str | None:
    """Why a `eval.benchmarks` / `--benchmarks` value names no benchmark we have, or None."""
    unknown = [name for name in benchmark_names(spec) if name not in BENCHMARKS]
    return f"unknown benchmark {unknown[0]!r} (known: {', '.join(BENCHMARKS)})" if unknown else None


def benchmark_file(name: str, data_dir: str | Path) -> Path:
    """Where a benchmark's rows are read from: `<data_dir>/<name>/test.jsonl`, `~` expanded."""
    return Path(data_dir).expanduser() / name / "test.jsonl"


def fetch_hint(names: list[str], data_dir: str | Path) -> str:
    """How to get missing benchmark files onto a machine without network."""
    return (
        f"fetch it first: rzero data fetch --out {data_dir} {' '.join(names)} on a machine with network, "
        f"then eval.data_dir={data_dir}"
    )


def missing_benchmark_file(spec: str, data_dir: str | Path) -> str | None:
    """Which benchmarks of `spec` have no local file while HF_HUB_OFFLINE forbids the Hub, and how to
    fetch them, or None."""
    if not hub_offline():
        return None
    missing = [name for name in benchmark_names(spec) if not benchmark_file(name, data_dir).is_file()]
    if not missing:
        return None
    first = benchmark_file(missing[0], data_dir)
    return f"{first} does not exist and HF_HUB_OFFLINE is set: {fetch_hint(missing, data_dir)}"


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE forbids the Hub (any value but unset, 0 or false)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "", "false")


def read_rows(name: str, data_dir: str | Path) -> list[dict]:
    """The rows of one benchmark: the local file, else the Hub dataset when online."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
    path = benchmark_file(name, data_dir)
    if path.is_file():
        return read_jsonl(path)
    if hub_offline():
        raise FileNotFoundError(f"{path} not found and HF_HUB_OFFLINE is set: {fetch_hint([name], data_dir)}")
    from datasets import load_dataset

    repo, configuration, split = HUB[name]
    return [dict(row) for row in load_dataset(repo, configuration, split=split)]


def load_benchmark(name: str, data_dir: str | Path, limit: int = 0) -> tuple[list[Problem], list[str | None], list]:
    """Problems of one benchmark (gold-less rows left out and reported), their reference solutions,
    and the indices of rows without a usable gold answer."""
    problems, solutions, missing = [], [], []
    for index, row in enumerate(read_rows(name, data_dir)):
        question, gold, solution = gold_of(name, row)
        if not gold or not question:
            missing.append(index)
            continue
        problems.append(Problem(question, gold, 0))
        solutions.append(solution)
        if limit and len(problems) == limit:
            break
    return problems, solutions, missing


def scorer_for(name: str, math_domain):
    """The domain a benchmark is scored with: the run's math domain, or a general-reasoning scorer
    (its prompts rendered with the same chat template as `math_domain`'s, if any)."""
    if name in MATH_BENCHMARKS:
        return math_domain
    scorer = MultipleChoice() if name in CHOICE_BENCHMARKS else ExactMatch()
    tokenizer = getattr(math_domain, "tokenizer", None)
    if tokenizer is not None:
        from rzero.core.domains import ChatPrompts

        return ChatPrompts(scorer, tokenizer)
    return scorer
