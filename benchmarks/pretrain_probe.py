"""Does a candidate base model give R-Zero a frontier? Per-level figures on fresh problems.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/pretrain_probe.py --model DIR [--operators +-] \
        [--levels 1-10] [--per-level 40] [--votes 10] [--out FILE.json]

Issue 13's screening tool for pretraining recipes (`rzero pretrain-base --recipe FILE`): for each
level it draws `--per-level` problems with seed 12345 (short levels necessarily overlap any corpus:
level 1 has 162 distinct problems; this screens recipes, it is not the held-out evaluation) and
reports greedy accuracy, pass@1 and maj@k at `--temperature` (R-Zero votes at 1.0), the share of
problems in R-Zero's band (p_hat in [0.3, 0.7]), how often the majority is right in that band (the
pseudo-label accuracy R-Zero would train on), and the share of greedy answers that show worked
steps. Then the Challenger's validity and the levels it poses. Prints a JSON record and a table.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from rzero.domains.arithmetic import OPERATORS, ArithmeticDomain, make_heldout, shows_work
from rzero.evaluate import question_validity, score_problems
from rzero.generation import HFGenerator, set_threads
from rzero.voting import in_band


def level_figures(results: list, votes: int) -> dict:
    """Greedy, pass@1, maj@k, band share, in-band majority accuracy and worked share of one level."""
    band = [r for r in results if in_band(r.p_hat, delta=0.2)]
    n = len(results)
    return {
        "greedy": round(sum(r.greedy_correct for r in results) / n, 3),
        "pass1": round(sum(sum(r.sampled_correct) for r in results) / (n * votes), 3),
        "maj": round(sum(r.majority_correct for r in results) / n, 3),
        "band": round(len(band) / n, 3),
        "band_label_accuracy": round(sum(r.majority_correct for r in band) / len(band), 3) if band else None,
        "greedy_worked": round(sum(shows_work(r.greedy_completion) for r in results) / n, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--operators", default="+-", help="operators to draw, e.g. +- or +-*")
    parser.add_argument("--levels", default="1-10", help="first-last level")
    parser.add_argument("--per-level", type=int, default=40)
    parser.add_argument("--votes", type=int, default=10)
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of the votes")
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--threads", type=int, default=0)
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
    by_level = {str(lv): level_figures([r for r in results if r.difficulty == lv], args.votes) for lv in levels}
    record = {
        "benchmark": "pretrain_probe",
        "model": args.model,
        "operators": "".join(operators),
        "per_level": args.per_level,
        "votes_per_question": args.votes,
        "temperature": args.temperature,
        "by_level": by_level,
        "challenger": asdict(question_validity(generator, domain, samples=300)),
        "wall_seconds": round(time.time() - started, 1),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record))
    print("\n| level | greedy | pass@1 | maj | band | band label acc | greedy worked |\n|---|---|---|---|---|---|---|")
    for level, f in by_level.items():
        label = "-" if f["band_label_accuracy"] is None else f"{f['band_label_accuracy']:.2f}"
        print(
            f"| {level} | {f['greedy']:.2f} | {f['pass1']:.2f} | {f['maj']:.2f} | {f['band']:.2f} | {label} "
            f"| {f['greedy_worked']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
