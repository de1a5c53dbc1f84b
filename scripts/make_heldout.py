"""Write an arithmetic held-out file for `eval.heldout_file` (issue 13's testbeds).

    python scripts/make_heldout.py --levels 1-10 --operators +- --per-level 64 --out heldout.jsonl

Problems are drawn with the held-out seed (never used for pretraining draws) unless --seed is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from rzero.cliargs import integer
from rzero.core.domains.arithmetic import HELDOUT_PER_LEVEL, HELDOUT_SEED, OPERATORS, PRETRAIN_LEVELS, make_heldout


def parse_levels(text: str) -> tuple[int, ...]:
    """`1-10` or `1,3,5`; every level must be one the domain can pose."""
    try:
        if "-" in text:
            low, high = (int(x) for x in text.split("-", 1))
            levels = tuple(range(low, high + 1))
        else:
            levels = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--levels must look like 1-10 or 1,3,5, got {text!r}") from None
    if not levels or any(level not in PRETRAIN_LEVELS for level in levels):
        raise argparse.ArgumentTypeError(f"--levels must lie in {PRETRAIN_LEVELS[0]}..{PRETRAIN_LEVELS[-1]}")
    return levels


def parse_operators(text: str) -> tuple[str, ...]:
    if not text or any(op not in OPERATORS for op in text) or len(set(text)) != len(text):
        raise argparse.ArgumentTypeError(f"--operators must be distinct characters of {''.join(OPERATORS)!r}")
    return tuple(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=parse_levels, required=True)
    parser.add_argument("--operators", type=parse_operators, default=OPERATORS)
    parser.add_argument("--per-level", type=integer(1), default=HELDOUT_PER_LEVEL)
    parser.add_argument("--seed", type=int, default=HELDOUT_SEED)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    problems = make_heldout(args.seed, args.per_level, args.levels, args.operators)
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(asdict(p)) + "\n" for p in problems)
    print(f"{len(problems)} problems, levels {args.levels[0]}..{args.levels[-1]} -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
