"""Does the embedded base model leave room to self-evolve? Figures on the fixed held-out set.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/base_model.py [--model DIR] [--update-card]

Writes benchmarks/results/base_model.json and prints a table. Targets (issue 21, on the held-out set):
the majority of 10 samples (T = 1) beats greedy decoding by at least 25 points (majority-vote RL can
pull the Solver up to about its maj@k, no further); in the band (p_hat in [0.25, 0.75]) the majority is
right at least 80% of the time (the pseudo-labels R-Zero trains on); at least 20% of problems in the
band; at least 90% of Challenger samples well-formed, over several levels. Per level it also reports
habit and skill: the share of greedy and of sampled answers that work the problem out, and the accuracy
of those that do. `--update-card` writes the figures into the model card.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from rzero.base_model.modelcard import CARD_FIGURE_KEYS, write_model_card
from rzero.config.load import load_config
from rzero.engines.generation import set_threads
from rzero.run.inputs import build_domain, embedded_base_path
from rzero.run.pipeline import run_evaluate

RESULTS = Path(__file__).parent / "results" / "base_model.json"


def pretraining_levels(model_dir: Path) -> list[int] | None:
    """The levels the model's corpus drew solving documents from (every phase of its pretraining record)."""
    from rzero.base_model.modelcard import phase_records

    record = model_dir / "pretrain_record.json"
    if not record.exists():
        return None
    phases = phase_records(json.loads(record.read_text()))
    return sorted({int(k) for phase in phases for k in phase["config"]["level_weights"]})


def check_targets(fig: dict) -> dict[str, bool]:
    return {
        "maj10_at_least_greedy_plus_0.25": fig["maj10_accuracy"] >= fig["greedy_accuracy"] + 0.25,
        "band_majority_accuracy_at_least_0.80": (fig.get("band_majority_accuracy") or 0.0) >= 0.80,
        "band_fraction_at_least_0.20": fig["band_fraction"] >= 0.20,
        "question_validity_at_least_0.90": fig["question_validity"] >= 0.90,
        "challenger_spans_3_or_more_levels": sum(v >= 5 for v in fig["difficulty_histogram"].values()) >= 3,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(embedded_base_path()))
    parser.add_argument("--votes", type=int, default=10, help="m of maj@m (the targets are stated for 10)")
    parser.add_argument("--challenger-samples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--update-card", action="store_true", help="write the figures into the model card")
    args = parser.parse_args()

    threads = set_threads(args.threads)
    started = time.time()
    cfg = load_config(  # the loop's evaluation stage, as `rzero eval` runs it
        overrides=[
            f"model.path={args.model}",
            f"seed={args.seed}",
            f"eval.votes_per_question={args.votes}",
            f"eval.challenger_samples={args.challenger_samples}",
            "eval.temperature=1.0",
            "eval.max_new_tokens=200",
            "challenger.max_new_tokens=64",
        ]
    )
    model = Path(args.model)
    metrics = run_evaluate(cfg, build_domain(cfg), 0, solver=model, challenger=model, curriculum=[], folder=None)
    figures = metrics.model_dump()
    targets = check_targets(figures)
    record = {
        "benchmark": "base_model",
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/base_model.py",
        "model": "embedded base (src/rzero/base_model)" if args.model == str(embedded_base_path()) else args.model,
        **{k: figures[k] for k in CARD_FIGURE_KEYS},
        "mean_p_hat": figures["mean_p_hat"],
        "difficulty_histogram": figures["difficulty_histogram"],
        "distinct_questions": figures["distinct_questions"],
        "heldout_problems": figures["problems"],
        "votes_per_question": args.votes,
        "challenger_samples": args.challenger_samples,
        "pretraining_levels": pretraining_levels(Path(args.model)),
        "temperature": 1.0,
        "seed": args.seed,
        "targets_met": targets,
        "wall_seconds": round(time.time() - started, 1),
        "machine": f"{platform.machine()}, {threads} torch threads, python {platform.python_version()}",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    if args.update_card:
        write_model_card(Path(args.model), record)

    print(json.dumps(record))
    print("\n| figure | value | target |\n|---|---|---|")
    for key, target in (
        ("greedy_accuracy", ""),
        ("pass1_accuracy", ""),
        ("maj10_accuracy", ">= greedy + 0.25"),
        ("band_fraction", ">= 0.20"),
        ("band_majority_accuracy", ">= 0.80"),
        ("question_validity", ">= 0.90"),
    ):
        print(f"| {key} | {record[key]:.3f} | {target} |")
    for name, key in (
        ("by difficulty", "accuracy_by_difficulty"),
        ("greedy works it out", "worked_share_by_difficulty"),
        ("... and is right", "worked_accuracy_by_difficulty"),
        ("samples work it out", "sampled_worked_share_by_difficulty"),
        ("... and are right", "sampled_worked_accuracy_by_difficulty"),
    ):
        values = " ".join(f"{k}:{'-' if v is None else f'{v:.2f}'}" for k, v in record[key].items())
        print(f"| {name} | {values} | |")
    posed = " ".join(f"{k}:{v}" for k, v in record["difficulty_histogram"].items())
    print(f"| Challenger levels | {posed} | spread |")
    missed = [name for name, ok in targets.items() if not ok]
    print("\ntargets met" if not missed else f"\ntargets missed: {missed}")
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
