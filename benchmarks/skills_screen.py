"""Issue 31's screens of a `skills` base model, before any loop: headroom, coverage, independence.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/skills_screen.py --model DIR headroom [--per-family 32]
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/skills_screen.py --model DIR coverage [--pool 300]
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/skills_screen.py --model DIR independence --family 5 \
        [--questions 96] [--steps 5] [--learning-rate 1e-5]

Every screen draws fresh problems with seed 12345 (never the held-out set, which stays for the loop's
evaluation), votes m = 10 at T = 1 and uses R-Zero's band, p_hat in [0.25, 0.75].

- headroom: per family, greedy accuracy, maj@10, the habit (share of greedy answers that work the
  problem out), the share of questions in the band and how often their majority is right. Gate:
  maj@10 - greedy >= 0.25 over all families, in-band majority right >= 0.8.
- coverage: the base model as Challenger (the Base-Challenger arm) poses a pool of `--pool` questions
  (T = 1, top_p 0.95, as the curriculum stage samples); the base model votes on each. Per family: how
  many it posed and how many fall in the band. Gate: in-band questions in fewer than a third of the
  families.
- independence: R-Zero's Solver step (`train_solver`, GRPO on majority-vote pseudo-labels) on the
  in-band questions of ONE family, then every family's greedy habit on fresh problems. Gate: the other
  families' mean habit rise is under 30% of the trained family's.
Prints one JSON record; `--out` writes it too.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from rzero.config.roles import CurriculumConfig, SolverConfig, VotingConfig
from rzero.core.domains import Problem
from rzero.core.domains.skills import FAMILIES, SkillsDomain, make_heldout
from rzero.core.voting import within_band
from rzero.engines.generation import HFGenerator, set_threads
from rzero.stages.curriculum import label_questions, sample_questions
from rzero.stages.evaluate import score_problems

BAND = (0.25, 0.75)
SEED = 12345


def fresh_problems(per_family: int, families=None, seed: int = SEED) -> list[Problem]:
    """`per_family` distinct fresh questions of each family, none of them held out."""
    held = frozenset(p.question for p in SkillsDomain().heldout())
    return make_heldout(seed, per_family, tuple(families or range(1, len(FAMILIES) + 1)), exclude=held)


def per_family(results) -> dict:
    table = {}
    for number in sorted({r.difficulty for r in results}):
        rows = [r for r in results if r.difficulty == number]
        band = [r for r in rows if within_band(r.p_hat, *BAND)]
        share = lambda flags: round(sum(flags) / len(flags), 3) if flags else None  # noqa: E731
        table[str(number)] = {
            "family": FAMILIES[number - 1].keyword,
            "greedy": share([r.greedy_correct for r in rows]),
            "habit": share([r.greedy_worked for r in rows]),
            "maj": share([r.majority_correct for r in rows]) if rows[0].sampled_answers else None,
            "sampled_worked": share([w for r in rows for w in r.sampled_worked]) if rows[0].sampled_answers else None,
            "band": share([within_band(r.p_hat, *BAND) for r in rows]) if rows[0].sampled_answers else None,
            "band_right": share([r.majority_correct for r in band]),
            "n": len(rows),
        }
    return table


def headroom(generator, args) -> dict:
    results = score_problems(
        generator, SkillsDomain(), fresh_problems(args.per_family, args.families), 10, 1.0, 1.0, 96
    )
    band = [r for r in results if within_band(r.p_hat, *BAND)]
    greedy = sum(r.greedy_correct for r in results) / len(results)
    majority = sum(r.majority_correct for r in results) / len(results)
    band_right = sum(r.majority_correct for r in band) / len(band) if band else 0.0
    return {
        "by_family": per_family(results),
        "greedy": round(greedy, 3),
        "maj": round(majority, 3),
        "band_share": round(len(band) / len(results), 3),
        "band_right": round(band_right, 3),
        "gate": {"maj_minus_greedy>=0.25": majority - greedy >= 0.25, "band_right>=0.8": band_right >= 0.8},
    }


def coverage(generator, args) -> dict:
    domain = SkillsDomain()
    curriculum = CurriculumConfig(pool_questions=args.pool, temperature=1.0, top_p=0.95)
    pool = sample_questions(generator, domain, curriculum, 48)
    rows = label_questions(generator, domain, pool["questions"], VotingConfig(), BAND, 96)
    posed = Counter(r.difficulty for r in rows)
    in_band = Counter(r.difficulty for r in rows if r.in_band)
    right = Counter(r.difficulty for r in rows if r.in_band and r.pseudo_label_correct)
    families = [n for n in range(1, len(FAMILIES) + 1) if in_band[n]]
    return {
        "sampled": pool["sampled"],
        "malformed": pool["malformed"],
        "duplicates": pool["duplicates"],
        "by_family": {
            str(n): {
                "family": FAMILIES[n - 1].keyword,
                "posed": posed[n],
                "in_band": in_band[n],
                "band_right": right[n],
            }
            for n in range(1, len(FAMILIES) + 1)
        },
        "families_with_in_band": families,
        "gate": {"in_band_families<K/3": len(families) < len(FAMILIES) / 3},
    }


def habits(generator, problems) -> dict:
    results = score_problems(generator, SkillsDomain(), problems, 0, 1.0, 1.0, 96)
    return {n: v["habit"] for n, v in per_family(results).items()}, {
        n: v["greedy"] for n, v in per_family(results).items()
    }


def independence(generator, args) -> dict:
    domain = SkillsDomain()
    probe = fresh_problems(args.per_family, args.families, seed=SEED + 1)
    before, greedy_before = habits(generator, probe)
    candidates = [p.question for p in fresh_problems(args.questions, [args.family], seed=SEED + 2)]
    rows = label_questions(generator, domain, candidates, VotingConfig(), BAND, 96)
    kept = [{"question": r.question, "pseudo_label": r.pseudo_label} for r in rows if r.in_band]
    right = sum(r.pseudo_label_correct for r in rows if r.in_band)
    solver = SolverConfig(
        grpo_steps=args.steps,
        learning_rate=args.learning_rate,
        questions_per_step=32,
        updates_per_step=2,
        rollouts_per_question=5,
        max_new_tokens=96,
    )
    with tempfile.TemporaryDirectory(prefix="skills-screen-") as scratch:
        train_solver_step(Path(args.model), kept, domain, solver, Path(scratch), args.seed)
        after, greedy_after = habits(HFGenerator.from_pretrained(Path(scratch) / "model", seed=0), probe)
    own = after[str(args.family)] - before[str(args.family)]
    others = [after[n] - before[n] for n in before if n != str(args.family)]
    mean_other = sum(others) / len(others)
    return {
        "family": args.family,
        "keyword": FAMILIES[args.family - 1].keyword,
        "in_band_questions": len(kept),
        "in_band_labels_right": right,
        "habit_before": before,
        "habit_after": after,
        "greedy_before": greedy_before,
        "greedy_after": greedy_after,
        "own_rise": round(own, 3),
        "other_mean_rise": round(mean_other, 3),
        "other_max_rise": round(max(others), 3),
        "gate": {"other_mean_rise<0.3*own": own > 0 and mean_other < 0.3 * own},
    }


def train_solver_step(model_dir: Path, rows: list[dict], domain, cfg: SolverConfig, out: Path, seed: int) -> None:
    from rzero.stages.solver import train_solver

    train_solver(model_dir, rows, domain, cfg, out, seed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-family", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--families", type=int, nargs="+", help="probe these family numbers only (default: all)")
    parser.add_argument("--out")
    sub = parser.add_subparsers(dest="screen", required=True)
    sub.add_parser("headroom")
    cover = sub.add_parser("coverage")
    cover.add_argument("--pool", type=int, default=300)
    ind = sub.add_parser("independence")
    ind.add_argument("--family", type=int, required=True)
    ind.add_argument("--questions", type=int, default=96, help="fresh questions of the family to vote on")
    ind.add_argument("--steps", type=int, default=5)
    ind.add_argument("--learning-rate", type=float, default=1e-5)
    args = parser.parse_args()
    set_threads(args.threads)
    started = time.time()
    generator = HFGenerator.from_pretrained(args.model, seed=args.seed)
    screen = {"headroom": headroom, "coverage": coverage, "independence": independence}[args.screen]
    record = {"benchmark": f"skills_screen/{args.screen}", "model": args.model, **screen(generator, args)}
    record["wall_seconds"] = round(time.time() - started, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
