"""Evidence: does self-evolution improve the embedded default, and do the paper's ablations matter?

    .venv/bin/python benchmarks/self_evolution.py [--seeds 0 1 2] [--jobs 2] [--work DIR] [key=value ...]

Runs, from configs/default.yaml with fixed seeds, four variants of the loop for 3 iterations each:
`rzero` (full R-Zero), `base_challenger` (challenger.train=false: the Solver learns from the untrained
Challenger's questions, same filter), `no_repetition_penalty` and `no_band_filter`, and a diagnostic that is
not R-Zero, `oracle_labels` (the same questions, chosen by the same votes, with exact answers as labels:
what better pseudo-labels could give); then the paper's
mid-training experiment: the same supervised fine-tuning (`rzero sft`, oracle-labelled problems that
are not in the held-out set) from the final R-Zero Solver (`rzero_then_sft`) and from the base model
(`sft_only`). Every run is an ordinary `rzero run` directory under --work, resumed when the script is
run again, so an interrupted benchmark continues where it stopped.

Writes benchmarks/results/self_evolution.json (per variant: `accuracy_by_iteration`, one list per seed
of held-out greedy accuracy for iterations 0..K; `pseudo_label_accuracy`, one list per seed for
iterations 1..K; per-iteration details), self_evolution.md (the table) and self_evolution.png (the plot).
All accuracies are on the held-out problems with exact answers, which no training signal sees. The
printed targets are issue 13's gates (`check_targets`): exact labels +15 points, R-Zero +10 points,
R-Zero above Base-Challenger by more than the seed spread, in-band pseudo-labels >= 0.6 right at
iteration 1, curriculum difficulty rising. Per-iteration rows also give the share of greedy held-out
answers that show worked steps (`greedy_worked_share`).
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

from rzero.core.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
VARIANTS = {
    "rzero": [],
    "base_challenger": ["challenger.train=false"],
    "no_repetition_penalty": ["challenger.repetition_penalty=false"],
    "no_band_filter": ["curriculum.band_filter=false"],
    "oracle_labels": ["curriculum.labels=oracle"],  # diagnostic upper bound, not R-Zero: exact answers as labels
}
RZERO = Path(sys.executable).with_name("rzero")


def _run(command: list[str], log: Path) -> float:
    """Run one rzero command, output to `log`; returns its wall seconds. Fails loudly."""
    started = time.time()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log, "a", encoding="utf-8") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with code {done.returncode}; see {log}")
    return time.time() - started


def loop_job(work: Path, variant: str, seed: int, threads: int, overrides: list[str]) -> Path:
    out = work / variant / f"seed_{seed}"
    if not (out / "summary.json").exists() or not _finished(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        args = [*overrides, *VARIANTS[variant], f"seed={seed}", f"model.threads={threads}"]
        _run([str(RZERO), "run", "--out", str(out), "--resume", *args], out.parent / f"seed_{seed}.log")
    return out


def _finished(out: Path) -> bool:
    summary = json.loads((out / "summary.json").read_text())
    return len(summary["iterations"]) == summary["config"]["iterations"] + 1


def sft_job(work: Path, name: str, model: Path | None, seed: int, threads: int, examples: int) -> Path:
    out = work / name / f"seed_{seed}"
    if not (out / "sft.json").exists() or "heldout" not in json.loads((out / "sft.json").read_text()):
        out.mkdir(parents=True, exist_ok=True)
        command = [str(RZERO), "sft", "--out", str(out), "--overwrite", "--seed", str(seed)]
        command += ["--threads", str(threads), "--examples", str(examples)]
        if model is not None:
            command += ["--model", str(model)]
        _run(command, out.parent / f"seed_{seed}.log")
    return out


def pool_diversity(pool_file: Path) -> dict:
    """Diversity of the distinct well-formed questions of a pool (mean pairwise BLEU, lower = more
    diverse; share of distinct token 3-grams), recomputed from pool.jsonl so that runs written before
    the curriculum stage recorded it are measured the same way."""
    from rzero.core.domains.arithmetic import ArithmeticDomain
    from rzero.core.records import CurriculumRow, from_json
    from rzero.core.rundir import read_jsonl
    from rzero.stages.curriculum import question_diversity

    questions = [from_json(CurriculumRow, r).question for r in read_jsonl(pool_file)]
    return question_diversity(questions, ArithmeticDomain().bleu_tokens)


def _dropped_term_values(question: str) -> set[int]:
    """Values of the question with one term left out: the long-expression copying error of the
    embedded base model (it drops a term when it rewrites 8 or more operands)."""
    from rzero.core.domains.arithmetic import evaluate, format_expression, parse_expression

    operands, ops = parse_expression(question)
    values = set()
    for i in range(len(operands)):
        kept = operands[:i] + operands[i + 1 :]
        for j in {max(i - 1, 0), min(i, len(ops) - 1)}:  # with the operator before or after it
            if len(kept) >= 2:
                values.add(evaluate(format_expression(kept, ops[:j] + ops[j + 1 :])))
    return values


def label_diagnostics(pool_file: Path) -> dict:
    """Why pseudo-labels are wrong, from the pool's votes and oracle answers (diagnostics only):
    in-band label accuracy per difficulty, and the share of wrong in-band majorities at difficulty
    >= 7 that equal the question's value with one term dropped."""
    from rzero.core.records import CurriculumRow, from_json
    from rzero.core.rundir import read_jsonl

    by_level: dict[str, list[int]] = {}
    wrong_long = dropped = 0
    for row in (from_json(CurriculumRow, r) for r in read_jsonl(pool_file)):
        if not row.in_band or row.difficulty is None or row.pseudo_label_correct is None:
            continue
        counts = by_level.setdefault(str(row.difficulty), [0, 0])
        counts[0] += row.pseudo_label_correct
        counts[1] += 1
        if row.difficulty >= 7 and not row.pseudo_label_correct and row.pseudo_label is not None:
            wrong_long += 1
            label = row.pseudo_label.lstrip("-")
            if label.isdigit() and len(label) < 10:
                dropped += int(row.pseudo_label) in _dropped_term_values(row.question)
    return {
        "in_band_label_accuracy_by_difficulty": {k: v for k, v in sorted(by_level.items(), key=lambda kv: int(kv[0]))},
        "wrong_majorities_at_7_plus": wrong_long,
        "of_which_one_term_dropped": dropped,
    }


def worked_share(results_file: Path) -> float | None:
    """Share of greedy held-out completions that work the problem out (`ArithmeticDomain.shows_work`:
    a reduction step of the problem before the box), recomputed from the stored completions
    (diagnostics: the embedded default's base model often answers long problems hastily, with the
    box alone)."""
    from rzero.core.domains.arithmetic import ArithmeticDomain
    from rzero.core.rundir import read_jsonl

    domain = ArithmeticDomain()
    rows = [row for row in read_jsonl(results_file) if "greedy_completion" in row and "question" in row]
    worked = [domain.shows_work(row["question"], row["greedy_completion"]) for row in rows]
    return round(sum(worked) / len(worked), 4) if worked else None


def collect_loop(out: Path) -> dict:
    """Per-iteration figures of one run directory."""
    from rzero.core.records import RunSummary, from_json

    summary = from_json(RunSummary, json.loads((out / "summary.json").read_text()))
    iterations = []
    for entry in summary.iterations:
        ev, cur, held = entry.evaluate, entry.curriculum, entry.evaluate.heldout
        row = {
            "iteration": entry.iteration,
            "greedy_accuracy": ev.greedy_accuracy,
            "heldout_problems": held.problems if held else None,
            "accuracy_by_difficulty": held.accuracy_by_difficulty if held else {},
            # habit and skill: share of greedy answers that work the problem out, accuracy of those
            "worked_share_by_difficulty": (held.worked_share_by_difficulty or {}) if held else {},
            "worked_accuracy_by_difficulty": (held.worked_accuracy_by_difficulty or {}) if held else {},
            "pseudo_label_accuracy": ev.pseudo_label_accuracy
            if ev.pseudo_label_accuracy is not None
            else (cur.pseudo_label_accuracy if cur else None),
            "accuracy_on_own_curriculum": ev.accuracy_on_own_curriculum,
            "curriculum_kept": cur.kept if cur else None,
            "curriculum_labelled": cur.labelled if cur else None,
            "curriculum_mean_difficulty": cur.mean_difficulty if cur else None,
            "curriculum_mean_p_hat": cur.mean_p_hat if cur else None,
            "stage_seconds": {name: metrics.seconds for name, metrics in entry.stages().items()},
        }
        folder = RunDir(out).iteration(entry.iteration)
        if (folder / "evaluate" / "results.jsonl").exists():
            row["greedy_worked_share"] = worked_share(folder / "evaluate" / "results.jsonl")
        if (folder / "curriculum" / "pool.jsonl").exists():
            row["pool_diversity"] = pool_diversity(folder / "curriculum" / "pool.jsonl")
            row["label_diagnostics"] = label_diagnostics(folder / "curriculum" / "pool.jsonl")
        iterations.append(row)
    return {"run_dir": str(out), "iterations": iterations}


def base_model_sha256(run_dirs: list[Path]) -> str | None:
    """The sha256 of the model.safetensors every run started from (their config's model.path; the
    embedded default's folder for `embedded`). Runs that started from different weights are an error."""
    from rzero.base_model.pretrain import file_sha256
    from rzero.run.inputs import embedded_base_path

    digests = set()
    for out in run_dirs:
        path = json.loads((out / "summary.json").read_text())["config"]["model"]["path"]
        folder = embedded_base_path() if path == "embedded" else Path(path)
        digests.add(file_sha256(folder / "model.safetensors"))
    if len(digests) > 1:
        raise ValueError(f"the runs started from different base models: {sorted(digests)}")
    return digests.pop() if digests else None


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(loops: dict[str, list[dict]], sft: dict[str, list[dict]]) -> dict:
    """The JSON record's `variants` section: per-seed lists and their means and spreads."""
    variants = {}
    for name, runs in loops.items():
        acc = [[it["greedy_accuracy"] for it in run["iterations"]] for run in runs]
        pseudo = [[it["pseudo_label_accuracy"] for it in run["iterations"][1:]] for run in runs]
        difficulty = [[it["curriculum_mean_difficulty"] for it in run["iterations"][1:]] for run in runs]
        by_iter = list(zip(*acc, strict=True))
        variants[name] = {
            "accuracy_by_iteration": acc,
            "pseudo_label_accuracy": pseudo,
            "curriculum_mean_difficulty": difficulty,
            "mean_accuracy_by_iteration": [round(mean_std(list(v))[0], 4) for v in by_iter],
            "std_accuracy_by_iteration": [round(mean_std(list(v))[1], 4) for v in by_iter],
            "habit_and_skill": habit_and_skill(runs),
            "runs": runs,
        }
    for name, results in sft.items():
        acc = [r["heldout"]["greedy_accuracy"] for r in results]
        variants[name] = {
            "accuracy": acc,
            "mean_accuracy": round(mean_std(acc)[0], 4),
            "std_accuracy": round(mean_std(acc)[1], 4),
            "runs": results,
        }
    return variants


def habit_and_skill(runs: list[dict]) -> dict:
    """Per iteration and level, pooled over the seeds' runs: held-out greedy accuracy, the share of
    greedy answers that work the problem out (habit) and the accuracy of those that do (skill).
    Pooling counts answers, so the skill of a level weighs each seed by how many answers worked."""
    table = []
    for k in range(len(runs[0]["iterations"])):
        its = [run["iterations"][k] for run in runs if k < len(run["iterations"])]
        levels = {}
        for level in its[0].get("worked_share_by_difficulty", {}):
            accuracy = statistics.fmean(it["accuracy_by_difficulty"][level] for it in its)
            habit = statistics.fmean(it["worked_share_by_difficulty"][level] for it in its)
            # right worked answers / worked answers, both as shares of the level's problems
            right = statistics.fmean(
                it["worked_share_by_difficulty"][level] * (it["worked_accuracy_by_difficulty"][level] or 0.0)
                for it in its
            )
            skill = right / habit if habit else None
            levels[level] = {
                "accuracy": round(accuracy, 4),
                "habit": round(habit, 4),
                "skill": None if skill is None else round(skill, 4),
            }
        table.append({"iteration": k, "by_difficulty": levels})
    return {"by_iteration": table}


def skill_moves(variant: dict, levels: list[str]) -> dict:
    """Whether the skill itself moved at `levels`: the accuracy of worked greedy answers there at the
    first iteration that has any, against the last iteration (pooled over the seeds)."""
    rows = variant["habit_and_skill"]["by_iteration"]
    moved = {}
    for level in levels:
        skills = [(r["iteration"], r["by_difficulty"].get(level, {}).get("skill")) for r in rows]
        known = [(k, v) for k, v in skills if v is not None]
        if len(known) >= 2:
            (first_k, first), (last_k, last) = known[0], known[-1]
            moved[level] = {
                "first_iteration": first_k,
                "first": first,
                "last_iteration": last_k,
                "last": last,
                "change": round(last - first, 4),
            }
    return moved


def exact_by_iteration(variant: dict) -> tuple[list[float], list[float]]:
    """Per iteration, the mean and standard deviation over the seeds of held-out greedy accuracy,
    unrounded: the gates compare these (the record's rounded means and spreads are for display, and
    a gap equal to the spread can round to one that exceeds it)."""
    columns = [mean_std(list(v)) for v in zip(*variant["accuracy_by_iteration"], strict=True)]
    return [mean for mean, _ in columns], [std for _, std in columns]


def check_targets(variants: dict) -> dict:
    """Issue 21's gates, computed from the seeds' exact means and spreads (`exact_by_iteration`; the
    figures are rounded for display only): full R-Zero raises held-out greedy by >= 20 points after
    the last iteration (seed spread reported); exact labels (a diagnostic, not R-Zero) gain at least
    as much as R-Zero; the trained Challenger beats the Base-Challenger at the last iteration by more
    than the seed spread; the in-band pseudo-labels are right >= 80% of the time
    at every iteration; curriculum difficulty rises. Also: whether the skill (accuracy of worked
    greedy answers) moved at the three hardest held-out levels, which is not a gate."""
    targets: dict = {}
    if "rzero" not in variants:
        return targets
    rz, rz_std = exact_by_iteration(variants["rzero"])
    gain = rz[-1] - rz[0]
    targets["rzero_gain_after_last_iteration"] = round(gain, 4)
    targets["rzero_gain_std_over_seeds"] = round(
        mean_std([run[-1] - run[0] for run in variants["rzero"]["accuracy_by_iteration"]])[1], 4
    )
    targets["rzero_gain_at_least_0.20"] = gain >= 0.20
    if "oracle_labels" in variants:
        oracle = exact_by_iteration(variants["oracle_labels"])[0]
        targets["oracle_labels_gain_after_last_iteration"] = round(oracle[-1] - oracle[0], 4)
        targets["gate1_oracle_gain_at_least_rzero_gain"] = oracle[-1] - oracle[0] >= gain
    labels = [
        statistics.fmean(v for v in column if v is not None)
        for column in zip(*variants["rzero"]["pseudo_label_accuracy"], strict=True)
    ]
    targets["rzero_in_band_pseudo_label_accuracy_by_iteration"] = [round(v, 4) for v in labels]
    targets["in_band_pseudo_label_accuracy_at_least_0.8_every_iteration"] = all(v >= 0.8 for v in labels)
    if "base_challenger" in variants:
        base, base_std = exact_by_iteration(variants["base_challenger"])
        gap = rz[-1] - base[-1]
        spread = max(rz_std[-1], base_std[-1])
        targets["rzero_minus_base_challenger_at_last_iteration"] = round(gap, 4)
        targets["seed_spread_at_last_iteration"] = round(spread, 4)
        targets["rzero_beats_base_challenger_by_more_than_spread"] = gap > spread
    levels = [statistics.fmean(col) for col in zip(*variants["rzero"]["curriculum_mean_difficulty"], strict=True)]
    targets["rzero_curriculum_mean_difficulty_by_iteration"] = [round(v, 3) for v in levels]
    targets["curriculum_difficulty_rises"] = all(b > a for a, b in zip(levels, levels[1:], strict=False))
    hardest = list(variants["rzero"]["habit_and_skill"]["by_iteration"][0]["by_difficulty"])[-3:]
    targets["rzero_skill_at_hardest_levels"] = skill_moves(variants["rzero"], hardest)
    if "rzero_then_sft" in variants and "sft_only" in variants:
        gap = statistics.fmean(variants["rzero_then_sft"]["accuracy"]) - statistics.fmean(
            variants["sft_only"]["accuracy"]
        )
        targets["rzero_then_sft_minus_sft_only"] = round(gap, 4)
    return targets


def _pm(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.3f} ± {std:.3f}"


def frontier_levels(variants: dict, count: int = 3) -> list[str]:
    """The `count` held-out levels where the base model (iteration 0, mean over runs) is nearest
    50% right: the columns that show whether the frontier moves."""
    base = [
        run["iterations"][0]["accuracy_by_difficulty"]
        for r in variants.values()
        for run in r.get("runs", [])
        if "iterations" in run
    ]
    if not base:
        return []
    mean = {lv: statistics.fmean(b[lv] for b in base) for lv in base[0]}
    return sorted(sorted(mean, key=lambda lv: abs(mean[lv] - 0.5))[:count], key=int)


def markdown(variants: dict, seeds: list[int], heldout_problems: int) -> str:
    """Per variant and iteration: means ± standard deviations over the seeds."""
    shown = frontier_levels(variants)
    lines = [
        f"Held-out greedy accuracy ({heldout_problems} problems, exact answers), mean ± std over the seeds {seeds} "
        "that finished (n per row); the level columns are the base model's frontier (nearest 50% right)",
        "",
        f"| variant | iter | held-out greedy | levels {' / '.join(shown)} | worked share | pseudo-label acc "
        "| own curriculum acc "
        "| kept | mean difficulty | pool pairwise BLEU | stage s (ch/cur/sol/ev) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, record in variants.items():
        if "runs" not in record or "accuracy_by_iteration" not in record:
            continue
        for k in range(len(record["accuracy_by_iteration"][0])):
            its = [run["iterations"][k] for run in record["runs"]]

            def col(key, its=its):
                values = [it[key] for it in its if it.get(key) is not None]
                return _pm(values) if values else "-"

            levels = " / ".join(
                f"{statistics.fmean(it['accuracy_by_difficulty'][lv] for it in its):.2f}" for lv in shown
            )
            worked = col("greedy_worked_share")
            bleu = [it["pool_diversity"]["mean_pairwise_bleu"] for it in its if "pool_diversity" in it]
            kept = [it["curriculum_kept"] for it in its if it.get("curriculum_kept") is not None]
            seconds = [it["stage_seconds"] for it in its]
            stage = "/".join(
                f"{statistics.fmean(s.get(p) or 0 for s in seconds):.0f}"
                for p in ("challenger", "curriculum", "solver", "evaluate")
            )
            label = f"{name} (n={len(its)})"
            lines.append(
                f"| {label} | {k} | {col('greedy_accuracy')} | {levels} | {worked} | {col('pseudo_label_accuracy')} | "
                f"{col('accuracy_on_own_curriculum')} | {statistics.fmean(kept):.0f} | "
                f"{col('curriculum_mean_difficulty')} | {statistics.fmean(bleu):.3f} | {stage} |"
                if kept
                else f"| {label} | {k} | {col('greedy_accuracy')} | {levels} | {worked} | - | - | - | - | - | {stage} |"
            )
    for name in ("sft_only", "rzero_then_sft"):
        if name in variants:
            accuracy = variants[name]["accuracy"]
            lines.append(f"| {name} (n={len(accuracy)}) | - | {_pm(accuracy)} | | | | | | | | |")
    return "\n".join(lines + habit_skill_table(variants) + diagnostics_table(variants)) + "\n"


def habit_skill_table(variants: dict) -> list[str]:
    """Per variant, iteration and level: accuracy (habit · skill), pooled over the seeds."""
    rows = [(name, r["habit_and_skill"]["by_iteration"]) for name, r in variants.items() if "habit_and_skill" in r]
    if not rows or not rows[0][1][0]["by_difficulty"]:
        return []
    levels = list(rows[0][1][0]["by_difficulty"])
    lines = [
        "",
        "Habit and skill by level (pooled over seeds): held-out greedy accuracy (share of greedy answers that "
        "work the problem out · accuracy of those that do)",
        "",
        f"| variant | iter | {' | '.join(levels)} |",
        "|---" * (len(levels) + 2) + "|",
    ]
    for name, table in rows:
        for row in table:
            cells = []
            for level in levels:
                f = row["by_difficulty"].get(level)
                skill = "-" if not f or f["skill"] is None else f"{f['skill']:.2f}"
                cells.append(f"{f['accuracy']:.2f} ({f['habit']:.2f} · {skill})" if f else "-")
            lines.append(f"| {name} | {row['iteration']} | {' | '.join(cells)} |")
    return lines


def diagnostics_table(variants: dict) -> list[str]:
    """In-band pseudo-labels right / kept per difficulty, summed over seeds; wrong majorities at
    difficulty >= 7 that equal the question with one term dropped."""
    lines = ["", "In-band pseudo-labels right / kept by difficulty (sum over seeds; oracle, diagnostics only)", ""]
    shown = sorted(
        {
            lv
            for r in variants.values()
            for run in r.get("runs", [])
            for it in run.get("iterations", [])
            for lv in it.get("label_diagnostics", {}).get("in_band_label_accuracy_by_difficulty", {})
        },
        key=int,
    )
    lines += [
        f"| variant | iter | {' | '.join(shown)} | wrong at >= 7: one term dropped |",
        "|---" * (len(shown) + 3) + "|",
    ]
    for name, record in variants.items():
        for k in range(1, len(record.get("accuracy_by_iteration", [[0]])[0])):
            totals: dict[str, list[int]] = {}
            wrong = dropped = 0
            for run in record["runs"]:
                diag = run["iterations"][k].get("label_diagnostics", {})
                for level, (right, kept) in diag.get("in_band_label_accuracy_by_difficulty", {}).items():
                    cell = totals.setdefault(level, [0, 0])
                    cell[0], cell[1] = cell[0] + right, cell[1] + kept
                wrong += diag.get("wrong_majorities_at_7_plus", 0)
                dropped += diag.get("of_which_one_term_dropped", 0)
            cells = [f"{totals[lv][0]}/{totals[lv][1]}" if lv in totals else "-" for lv in shown]
            lines.append(f"| {name} | {k} | {' | '.join(cells)} | {dropped}/{wrong} |")
    return lines


def plot(variants: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, record in variants.items():
        if "mean_accuracy_by_iteration" not in record:
            continue
        means, stds = record["mean_accuracy_by_iteration"], record["std_accuracy_by_iteration"]
        xs = list(range(len(means)))
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=name)
    for name, style in (("sft_only", ":"), ("rzero_then_sft", "--")):
        if name in variants:
            ax.axhline(variants[name]["mean_accuracy"], linestyle=style, color="gray", label=name)
    ax.set_xlabel("iteration")
    ax.set_ylabel("held-out greedy accuracy")
    ax.set_title("Embedded default: Solver accuracy per iteration (mean ± std over seeds)")
    ax.set_xticks(range(len(next(iter(variants.values()))["mean_accuracy_by_iteration"])))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (each gets cores / jobs threads)")
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "runs" / "self_evolution"))
    parser.add_argument("--sft-examples", type=int, default=300, help="0 = skip the SFT experiment")
    parser.add_argument("--results", default=str(RESULTS / "self_evolution"), help="output path stem")
    parser.add_argument("--collect-only", action="store_true", help="only tabulate the runs already finished")
    parser.add_argument("overrides", nargs="*", help="config overrides for every variant, e.g. iterations=2")
    args = parser.parse_args()
    work = Path(args.work)
    threads = max(1, (os.cpu_count() or 2) // args.jobs)
    started = time.time()
    jobs = [(variant, seed) for seed in args.seeds for variant in args.variants]
    with ThreadPoolExecutor(args.jobs) as pool:
        if args.collect_only:  # tables from the finished runs only: nothing is started
            jobs = [j for j in jobs if (work / j[0] / f"seed_{j[1]}" / "summary.json").exists()]
            jobs = [j for j in jobs if _finished(work / j[0] / f"seed_{j[1]}")]
            outs = [work / v / f"seed_{s}" for v, s in jobs]
        else:
            outs = list(pool.map(lambda j: loop_job(work, j[0], j[1], threads, args.overrides), jobs))
        loops: dict[str, list[dict]] = {v: [] for v in args.variants}
        for (variant, _), out in zip(jobs, outs, strict=True):
            loops[variant].append(collect_loop(out))
        loops = {v: runs for v, runs in loops.items() if runs}
        sft: dict[str, list[dict]] = {}
        if args.collect_only:  # the SFT results that exist
            for name in ("sft_only", "rzero_then_sft"):
                for seed in args.seeds:
                    path = work / name / f"seed_{seed}" / "sft.json"
                    if path.exists() and "heldout" in json.loads(path.read_text()):
                        sft.setdefault(name, []).append(json.loads(path.read_text()))
        elif args.sft_examples and "rzero" in loops:
            last = json.loads((work / "rzero" / f"seed_{args.seeds[0]}" / "summary.json").read_text())
            final = len(last["iterations"]) - 1
            sft_jobs = [("sft_only", None, s) for s in args.seeds]
            sft_jobs += [
                ("rzero_then_sft", RunDir(work / "rzero" / f"seed_{s}").stage(final, "solver") / "model", s)
                for s in args.seeds
            ]
            sft_outs = list(pool.map(lambda j: sft_job(work, j[0], j[1], j[2], threads, args.sft_examples), sft_jobs))
            for (name, _, _), out in zip(sft_jobs, sft_outs, strict=True):
                sft.setdefault(name, []).append(json.loads((out / "sft.json").read_text()))
    variants = aggregate(loops, sft)
    from rzero.core.domains.arithmetic import ArithmeticDomain

    counted = [row["heldout_problems"] for runs in loops.values() for run in runs for row in run["iterations"]]
    heldout_problems = next((int(n) for n in counted if n), None) or len(ArithmeticDomain().heldout())  # heldout_file
    record = {
        "benchmark": "self_evolution",
        "base_model_sha256": base_model_sha256(outs),
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/self_evolution.py " + " ".join(sys.argv[1:]),
        "config": "configs/default.yaml" + (f" + {' '.join(args.overrides)}" if args.overrides else ""),
        "seeds": args.seeds,
        "heldout_problems": heldout_problems,
        "targets": check_targets(variants),
        "variants": variants,
        "wall_seconds_this_invocation": round(time.time() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {args.jobs} runs at a time x {threads} threads",
    }
    stem = Path(args.results)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    table = markdown(variants, args.seeds, heldout_problems)
    stem.with_suffix(".md").write_text(table)
    plot(variants, stem.with_suffix(".png"))
    print(json.dumps(record["targets"], indent=1))
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
