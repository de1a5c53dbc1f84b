"""A small labelled probe set that estimates pseudo-label accuracy per iteration (evaluation only).

The paper measures how often the Solver's majority-vote pseudo-labels are right by grading a sample
of each curriculum with a stronger model. Domains without an oracle (`math`) can do the same with a
local labelled file: each iteration, the pre-update Solver votes on the probe questions exactly as
it votes on the curriculum, and the probe's answers say how often its majority is right, over all
labelled questions and over those the band would keep. The probe never enters a curriculum or a
reward: it is read by the loop after the curriculum is built and written to its own file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from rzero.core.records import CurriculumRow
from rzero.core.rundir import iter_jsonl

QUESTION_KEYS = ("question", "problem")


def load_probe(path: str | Path, limit: int) -> list[tuple[str, str]]:
    """(question, answer) pairs from a JSONL file (`question` or `problem`, and `answer`; a GSM8K
    answer keeps what follows `####`). Errors name the file and line."""
    pairs = []
    for number, row in iter_jsonl(path):
        try:
            question = next(row[k] for k in QUESTION_KEYS if k in row)
            answer = str(row["answer"])
        except (StopIteration, KeyError, TypeError):
            raise ValueError(f"{path}:{number}: expected JSON with question (or problem) and answer") from None
        if "####" in answer:
            answer = answer.rsplit("####", 1)[1]
        pairs.append((question, re.sub(r"\s+", " ", answer).strip()))
        if len(pairs) == limit:
            break
    if not pairs:
        raise ValueError(f"{path}: no probe rows")
    return pairs


def probe_figures(rows: list[CurriculumRow], answers: list[str], equivalent: Callable[[str, str], bool]) -> dict:
    """Pseudo-label accuracy of labelled probe rows (as `curriculum.label_questions` makes them)
    against the probe's answers: over every labelled row, and over the rows in the band. Each row
    gets its probe answer (for probe.jsonl); the figures are `CurriculumMetrics`' probe fields."""

    def accuracy(selected):
        right = [equivalent(r.pseudo_label, a) for r, a in selected]
        return sum(right) / len(right) if right else None

    labelled = [(r, a) for r, a in zip(rows, answers, strict=True) if r.pseudo_label is not None]
    in_band = [(r, a) for r, a in labelled if r.in_band]
    for row, answer in zip(rows, answers, strict=True):
        row.probe_answer = answer
    return {
        "probe_questions": len(rows),
        "probe_labelled": len(labelled),
        "probe_in_band": len(in_band),
        "probe_pseudo_label_accuracy": accuracy(in_band),
        "probe_pseudo_label_accuracy_all": accuracy(labelled),
    }
