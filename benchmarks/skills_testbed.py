"""Issue 31's loop on the skills testbed: trained Challenger against Base-Challenger, and two ablations.

    .venv/bin/rzero pretrain-base --recipe configs/pretrain/skills.json --out runs/skills-base   # 32 min
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/skills_testbed.py --model runs/skills-base \
        [--variants rzero base_challenger] [--seeds 0 1 2] [--jobs 2] [overrides]

Runs `rzero run` on the embedded default's configuration (configs/default.yaml) with the skills domain,
the built base model and its shorter generation lengths (SKILLS, below) for each variant and seed (two
at a time, one torch thread each; `--resume` picks up finished iterations), then tabulates, per variant
and iteration: held-out greedy accuracy (384 problems, 32 per family, exact answers, evaluation only),
the families unlocked (held-out greedy habit >= 0.5 where it was below at iteration 0:
`RunSummary.unlocked_levels`), the families the kept curriculum covers, and the in-band pseudo-label
accuracy. Writes RESULTS.json (the record), .md
(the tables), .png (families unlocked by iteration) and RESULTS_report/report.html (`rzero report` of
the trained and Base-Challenger runs, overlaid). Prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "skills_testbed" / "skills_testbed"
RZERO = Path(sys.executable).with_name("rzero")
SKILLS = ["domain=skills", "solver.max_new_tokens=96", "eval.max_new_tokens=96"]  # worked solutions < 70 tokens
VARIANTS = {
    "rzero": [],
    "base_challenger": ["challenger.train=false"],
    "no_repetition_penalty": ["challenger.repetition_penalty=false"],
    "no_band_filter": ["curriculum.band_filter=false"],
}


def run_dir(work: Path, variant: str, seed: int) -> Path:
    return work / f"{variant}-seed{seed}"


def finished(out: Path) -> bool:
    if not (out / "summary.json").is_file():
        return False
    summary = json.loads((out / "summary.json").read_text())
    return len(summary["iterations"]) == summary["config"]["iterations"] + 1


def loop_job(work: Path, variant: str, seed: int, model: str, threads: int, overrides: list[str]) -> Path:
    out = run_dir(work, variant, seed)
    if not finished(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        args = [*SKILLS, f"model.path={model}", *overrides, *VARIANTS[variant], f"seed={seed}"]
        command = [str(RZERO), "run", "--out", str(out), "--resume", *args, f"model.threads={threads}"]
        with open(out.parent / f"{out.name}.log", "w") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, env={**os.environ})
    return out


def collect(out: Path) -> dict:
    """Per-iteration figures of one run directory."""
    from rzero.core.records import CurriculumRow, RunSummary, from_json
    from rzero.core.rundir import RunDir, read_jsonl

    summary = from_json(RunSummary, json.loads((out / "summary.json").read_text()))
    unlocked = dict(summary.unlocked_levels())
    rows = []
    for entry in summary.iterations:
        k, held, cur = entry.iteration, entry.evaluate.heldout, entry.curriculum
        kept_file = RunDir(out).iteration(k) / "curriculum" / "curriculum.jsonl"
        kept = [from_json(CurriculumRow, r) for r in read_jsonl(kept_file)] if kept_file.is_file() else []
        families = sorted({r.difficulty for r in kept if r.difficulty is not None})
        rows.append(
            {
                "iteration": k,
                "greedy_accuracy": entry.evaluate.greedy_accuracy,
                "accuracy_by_family": held.accuracy_by_difficulty if held else {},
                "habit_by_family": (held.worked_share_by_difficulty or {}) if held else {},
                "unlocked_families": sorted(map(int, unlocked.get(k, []))),
                "curriculum_families": families,
                "curriculum_kept": cur.kept if cur else None,
                "pseudo_label_accuracy": cur.pseudo_label_accuracy if cur else None,
                "seconds": round(sum(m.seconds or 0 for m in entry.stages().values()), 1),
            }
        )
    return {"run_dir": str(out), "iterations": rows}


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {spread:.3f}"


def markdown(loops: dict[str, list[dict]]) -> str:
    lines = [
        "| variant | iter | held-out greedy | families unlocked (per seed) | curriculum families (per seed) "
        "| kept | in-band pseudo-labels right |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, runs in loops.items():
        for k in range(max(len(r["iterations"]) for r in runs)):
            its = [r["iterations"][k] for r in runs if k < len(r["iterations"])]
            unlocked = " / ".join(str(len(it["unlocked_families"])) for it in its)
            covered = " / ".join(str(len(it["curriculum_families"])) for it in its)
            kept = [it["curriculum_kept"] for it in its if it["curriculum_kept"] is not None]
            labels = [it["pseudo_label_accuracy"] for it in its if it["pseudo_label_accuracy"] is not None]
            lines.append(
                f"| {variant} (n={len(its)}) | {k} | {mean_std([it['greedy_accuracy'] for it in its])} | {unlocked} "
                f"| {covered if k else '-'} | {round(statistics.fmean(kept)) if kept else '-'} | {mean_std(labels)} |"
            )
    return "\n".join(lines) + "\n"


def plot(loops: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (variant, runs) in enumerate(loops.items()):
        for j, run in enumerate(runs):
            ks = [it["iteration"] for it in run["iterations"]]
            label = variant if j == 0 else None
            left.plot(
                ks,
                [len(it["unlocked_families"]) for it in run["iterations"]],
                marker="o",
                color=f"C{i}",
                alpha=0.7,
                label=label,
            )
            right.plot(
                ks,
                [it["greedy_accuracy"] for it in run["iterations"]],
                marker="o",
                color=f"C{i}",
                alpha=0.7,
                label=label,
            )
    left.set(title="families unlocked (held-out greedy habit >= 0.5)", xlabel="iteration", ylabel="families")
    right.set(title="held-out greedy accuracy (exact answers)", xlabel="iteration", ylabel="accuracy")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a skills base model folder (configs/pretrain/skills.json)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (each gets cores / jobs threads)")
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "runs" / "skills_testbed"))
    parser.add_argument("--results", default=str(RESULTS), help="output path stem")
    parser.add_argument("--collect-only", action="store_true", help="only tabulate the runs already finished")
    parser.add_argument("overrides", nargs="*", help="config overrides for every variant, e.g. iterations=2")
    args = parser.parse_args()
    work = Path(args.work)
    threads = max(1, (os.cpu_count() or 2) // args.jobs)
    started = time.time()
    jobs = [(v, s) for s in args.seeds for v in args.variants]
    if args.collect_only:
        jobs = [j for j in jobs if finished(run_dir(work, *j))]
    else:
        with ThreadPoolExecutor(args.jobs) as pool:
            model = str(Path(args.model).resolve())
            list(pool.map(lambda j: loop_job(work, j[0], j[1], model, threads, args.overrides), jobs))
    loops: dict[str, list[dict]] = {}
    for variant, seed in jobs:
        loops.setdefault(variant, []).append({"seed": seed, **collect(run_dir(work, variant, seed))})
    record = {
        "benchmark": "skills_testbed",
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/skills_testbed.py " + " ".join(sys.argv[1:]),
        "config": "configs/default.yaml + " + " ".join([*SKILLS, f"model.path={args.model}", *args.overrides]),
        "seeds": args.seeds,
        "variants": loops,
        "wall_seconds_this_invocation": round(time.time() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {args.jobs} runs at a time x {threads} threads",
    }
    stem = Path(args.results)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    table = markdown(loops)
    stem.with_suffix(".md").write_text(table)
    plot(loops, stem.with_suffix(".png"))
    compared = [run_dir(work, v, s) for v in ("rzero", "base_challenger") for v_, s in jobs if v_ == v]
    if compared:
        from rzero.observe.report import build_report

        print(f"report: {build_report(compared, stem.parent / (stem.name + '_report'))}")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
