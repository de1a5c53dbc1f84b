"""Does a candidate base model give R-Zero something to work with? Per-level figures on fresh problems.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/pretrain_probe.py --model DIR [--operators +-*] \
        [--levels 1-8] [--per-level 32] [--votes 10] [--reference PROBE.json] [--out FILE.json]

The screening tool for pretraining recipes (`rzero pretrain-base --recipe FILE`): for each level it
draws `--per-level` problems with seed 12345 (short levels necessarily overlap any corpus: level 1
has few distinct problems; this screens recipes, it is not the held-out evaluation) and reports
greedy accuracy, pass@1 and maj@k at `--temperature` (R-Zero votes at 1.0), the share of problems in
R-Zero's band (p_hat in [0.3, 0.7]) and how often the majority is right there (the pseudo-label
accuracy R-Zero would train on). Then habit and skill: the share of greedy answers and of sampled
answers that work the problem out, and the accuracy of those that do. Then the Challenger's validity
and the levels it poses.

Issue 21's screen, printed as `screen`: maj@k - greedy >= 0.25 over all levels; in-band majority
right >= 0.8; and, given `--reference` (the probe record of the model to keep the skill of, e.g.
the first default), sampled worked answers right within 0.10 of the reference's at levels 1..5.
Prints a JSON record and a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rzero.core.domains.arithmetic import OPERATORS, ArithmeticDomain, make_heldout
from rzero.core.voting import in_band
from rzero.engines.generation import HFGenerator, set_threads
from rzero.stages.evaluate import question_validity, score_problems, summarize


def level_figures(results: list) -> dict:
    """Greedy, pass@1, maj@k, band share, in-band majority accuracy, habit and skill of one level."""
    band = [r for r in results if in_band(r.p_hat, delta=0.2)]
    figures = summarize(results)
    level = next(iter(figures.accuracy_by_difficulty))

    def rounded(value):
        return None if value is None else round(value, 3)

    return {
        "greedy": rounded(figures.greedy_accuracy),
        "pass1": rounded(figures.pass1_accuracy),
        "maj": rounded(figures.majority_accuracy),
        "band": round(len(band) / len(results), 3),
        "band_label_accuracy": rounded(sum(r.majority_correct for r in band) / len(band)) if band else None,
        "greedy_worked": rounded(figures.worked_share_by_difficulty[level]),
        "greedy_worked_right": rounded(figures.worked_accuracy_by_difficulty[level]),
        "sampled_worked": rounded(figures.sampled_worked_share_by_difficulty[level]),
        "sampled_worked_right": rounded(figures.sampled_worked_accuracy_by_difficulty[level]),
    }


def screen(results: list, reference: dict | None) -> dict:
    """Issue 21's screen: maj - greedy over all levels, in-band majority accuracy over all levels,
    and the sampled worked accuracy's shortfall against `reference` (a probe record) at levels 1..5.
    The gates compare exact values (this model's, recomputed from `results`; the reference's as its
    record stores them); the figures are rounded for display only."""
    figures = summarize(results)
    band = [r for r in results if in_band(r.p_hat, delta=0.2)]
    gap = figures.majority_accuracy - figures.greedy_accuracy
    right = sum(r.majority_correct for r in band) / len(band) if band else None
    out = {"maj_minus_greedy": round(gap, 3), "in_band_majority_right": None if right is None else round(right, 3)}
    out["maj_minus_greedy_at_least_0.25"] = gap >= 0.25
    out["in_band_majority_right_at_least_0.8"] = (right or 0) >= 0.8
    if reference:
        shortfall = {}
        for level in ("1", "2", "3", "4", "5"):
            mine = summarize([r for r in results if str(r.difficulty) == level])
            mine = (mine.sampled_worked_accuracy_by_difficulty or {}).get(level)
            theirs = reference["by_level"].get(level, {}).get("sampled_worked_right")
            if mine is not None and theirs is not None:
                shortfall[level] = theirs - mine
        out["sampled_worked_right_shortfall_vs_reference"] = {k: round(v, 3) for k, v in shortfall.items()}
        out["skill_within_0.10_of_reference_at_levels_1_5"] = bool(shortfall) and max(shortfall.values()) <= 0.10
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--operators", default="+-*", help="operators to draw, e.g. +- or +-*")
    parser.add_argument("--levels", default="1-8", help="first-last level")
    parser.add_argument("--per-level", type=int, default=32)
    parser.add_argument("--votes", type=int, default=10)
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of the votes")
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--reference", help="a probe record (JSON) whose sampled worked accuracy to compare")
    parser.add_argument("--out", help="write the JSON record here too")
    args = parser.parse_args()
    operators = tuple(args.operators)
    if not operators or not set(operators) <= set(OPERATORS):
        parser.error(f"--operators: use characters of {''.join(OPERATORS)}, got {args.operators!r}")
    try:
        first, last = (int(x) for x in args.levels.split("-"))
    except ValueError:
        parser.error(f"--levels: expected FIRST-LAST such as 1-10, got {args.levels!r}")
    if not 1 <= first <= last or args.per_level < 1 or args.votes < 2:
        parser.error("--levels must be 1 <= first <= last; --per-level >= 1; --votes >= 2")

    set_threads(args.threads)
    started = time.time()
    domain = ArithmeticDomain()
    generator = HFGenerator.from_pretrained(args.model, seed=0)
    levels = list(range(first, last + 1))
    problems = make_heldout(seed=12345, per_level=args.per_level, levels=tuple(levels), operators=operators)
    results = score_problems(
        generator,
        domain,
        problems,
        votes_per_question=args.votes,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
    )
    by_level = {str(lv): level_figures([r for r in results if r.difficulty == lv]) for lv in levels}
    reference = json.loads(Path(args.reference).read_text()) if args.reference else None
    record = {
        "benchmark": "pretrain_probe",
        "model": args.model,
        "operators": "".join(operators),
        "per_level": args.per_level,
        "votes_per_question": args.votes,
        "temperature": args.temperature,
        "by_level": by_level,
        "screen": screen(results, reference),
        "challenger": question_validity(generator, domain, samples=300).model_dump(),
        "wall_seconds": round(time.time() - started, 1),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record))
    columns = list(next(iter(by_level.values())))
    print("\n| level | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for level, f in by_level.items():
        cells = ["-" if f[c] is None else f"{f[c]:.2f}" for c in columns]
        print(f"| {level} | " + " | ".join(cells) + " |")
    print(json.dumps(record["screen"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
