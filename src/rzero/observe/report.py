"""`rzero report RUN_DIR [RUN_DIR ...]`: one self-contained HTML page (plots embedded) and the PNGs.

Everything is read from the run directories (summary.json, pools, curricula, trainer logs); nothing
is recomputed from models. With several run directories (ablations), the held-out accuracy plot
overlays them; the other plots describe the first one.
"""

from __future__ import annotations

import base64
import html
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from rzero.core.records import STAGES, CurriculumRow, IterationRecord, RunSummary, from_json
from rzero.core.rundir import RunDir, atomic_write_text, read_jsonl
from rzero.core.voting import band_bounds

BAND_COLOUR = "#d9ead3"
RARE_WORKED = 0.1  # a level's skill from fewer worked answers than this share is drawn hollow


def _load(run: Path) -> dict:
    summary_file = run / "summary.json"
    if not summary_file.is_file():
        raise FileNotFoundError(f"{summary_file} not found: is {run} an rzero run directory?")
    try:
        summary = from_json(RunSummary, json.loads(summary_file.read_text()))
    except (ValueError, TypeError) as error:
        raise ValueError(f"{summary_file}: {error}") from None
    pools, curricula, challenger_logs = {}, {}, {}
    for entry in summary.iterations:
        k = entry.iteration
        folder = RunDir(run).iteration(k)
        if (folder / "curriculum" / "pool.jsonl").is_file():
            pools[k] = [from_json(CurriculumRow, r) for r in read_jsonl(folder / "curriculum" / "pool.jsonl")]
            curricula[k] = [from_json(CurriculumRow, r) for r in read_jsonl(folder / "curriculum" / "curriculum.jsonl")]
        if (folder / "challenger" / "train_log.jsonl").is_file():
            challenger_logs[k] = [r for r in read_jsonl(folder / "challenger" / "train_log.jsonl") if "step" in r]
    return {"name": run.name, "summary": summary, "pools": pools, "curricula": curricula, "logs": challenger_logs}


def _series(summary: RunSummary, value: Callable[[IterationRecord], float | None]) -> tuple[list[int], list[float]]:
    """(iterations, values) of one figure per iteration, leaving out the iterations without it."""
    xs, ys = [], []
    for entry in summary.iterations:
        y = value(entry)
        if isinstance(y, int | float):
            xs.append(entry.iteration)
            ys.append(y)
    return xs, ys


def _figure(plt, title: str, xlabel: str, ylabel: str):
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if xlabel == "iteration":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig, ax


def _plot_accuracy(plt, runs):
    fig, ax = _figure(plt, "Solver: held-out greedy accuracy (exact answers)", "iteration", "accuracy")
    values = []
    for run in runs:
        xs, ys = _series(run["summary"], lambda it: it.evaluate.greedy_accuracy)
        ax.plot(xs, ys, marker="o", label=run["name"])
        values += ys
    if values:  # at least 10 points of range, so that noise does not look like a trend
        middle = (max(values) + min(values)) / 2
        half = max(0.05, (max(values) - min(values)) / 2 + 0.01)
        ax.set_ylim(max(0.0, middle - half), min(1.0, middle + half))
    ax.legend(fontsize=8)
    return fig


def _plot_unlocked(plt, runs):
    """Per run, how many difficulty levels (skills testbed: problem families) the loop has unlocked:
    greedy habit >= UNLOCKED_HABIT on the held-out set, below it at iteration 0."""
    fig, ax = _figure(plt, "levels (families) unlocked: held-out greedy habit >= 0.5", "iteration", "unlocked")
    for run in runs:
        rows = run["summary"].unlocked_levels()
        ax.plot([k for k, _ in rows], [len(levels) for _, levels in rows], marker="o", label=run["name"])
    ax.set_ylim(bottom=-0.2)
    ax.legend(fontsize=8)
    return fig


def _plot_pseudo_labels(plt, run):
    fig, ax = _figure(plt, "Pseudo-label accuracy of the curriculum (oracle, diagnostics only)", "iteration", "share")
    for value, label in (
        (lambda it: it.curriculum and it.curriculum.pseudo_label_accuracy, "pseudo-labels right"),
        (lambda it: it.evaluate.accuracy_on_own_curriculum, "new Solver on its curriculum (true answers)"),
    ):
        xs, ys = _series(run["summary"], value)
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return fig


def _plot_p_hat(plt, run):
    fig, ax = _figure(plt, "p_hat of the question pool per iteration (band shaded)", "p_hat", "questions")
    section = run["summary"].config["curriculum"]
    delta = section["band_delta"]
    low, high = band_bounds(delta, section.get("band_low"), section.get("band_high"))
    ax.axvspan(low, high, color=BAND_COLOUR, label=f"band {low:g} <= p_hat <= {high:g}")
    bins = [i / 10 - 0.05 for i in range(12)]
    for k, rows in run["pools"].items():
        ax.hist([r.p_hat for r in rows], bins=bins, histtype="step", linewidth=1.5, label=f"iteration {k}")
    ax.legend(fontsize=8)
    return fig


def _plot_difficulty(plt, run):
    fig, ax = _figure(plt, "Difficulty of the pool (dashed) and of the kept curriculum", "difficulty", "share")
    for i, (k, rows) in enumerate(run["pools"].items()):
        for data, style in ((rows, "--"), (run["curricula"][k], "-")):
            counts = Counter(r.difficulty for r in data if r.difficulty is not None)
            total = sum(counts.values()) or 1
            levels = sorted(counts)
            label = f"iteration {k}" if style == "-" else None
            ax.plot(levels, [counts[v] / total for v in levels], style, marker=".", color=f"C{i}", label=label)
    ax.legend(fontsize=8)
    return fig


def _plot_diversity(plt, run):
    fig, ax = _figure(plt, "Question diversity of the pool", "iteration", "value")
    for value, label in (
        (lambda it: it.curriculum and it.curriculum.mean_pairwise_bleu, "mean pairwise BLEU (lower = more diverse)"),
        (lambda it: it.curriculum and it.curriculum.distinct_3gram_share, "distinct 3-gram share"),
        (lambda it: it.curriculum and it.curriculum.distinct_fraction, "distinct well-formed / sampled"),
    ):
        xs, ys = _series(run["summary"], value)
        ax.plot(xs, ys, marker="o", label=label)
    seen: set[str] = set()
    xs, overlap = [], []
    for k, rows in run["pools"].items():
        questions = {r.question for r in rows}
        if seen:
            xs.append(k)
            overlap.append(len(questions & seen) / max(1, len(questions)))
        seen |= questions
    if xs:
        ax.plot(xs, overlap, marker="o", label="share also posed in earlier iterations")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return fig


def _plot_rewards(plt, run):
    fig, ax = _figure(plt, "Challenger reward parts per GRPO step", "step (all iterations)", "mean")
    offset, ticks = 0, []
    keys = ("challenger/uncertainty", "challenger/repetition", "challenger/well_formed", "reward")
    points: dict[str, tuple[list, list]] = {key: ([], []) for key in keys}
    for k, rows in run["logs"].items():
        ticks.append((offset + 1, f"it {k}"))
        for row in rows:
            for key in keys:
                if isinstance(row.get(key), int | float):
                    points[key][0].append(offset + row["step"])
                    points[key][1].append(row[key])
        offset += max((r["step"] for r in rows), default=0)
    for key, (xs, ys) in points.items():
        if xs:
            ax.plot(xs, ys, marker=".", label=key.split("/")[-1])
    for x, _ in ticks:
        ax.axvline(x - 0.5, color="gray", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _plot_wall(plt, run):
    fig, ax = _figure(plt, "Stage wall time", "iteration", "seconds")
    bottom: dict[int, float] = {}
    for stage in STAGES:
        xs, ys = _series(run["summary"], lambda it, name=stage: getattr(it.stages().get(name), "seconds", None))
        ax.bar(xs, ys, bottom=[bottom.get(x, 0) for x in xs], label=stage)
        for x, y in zip(xs, ys, strict=True):
            bottom[x] = bottom.get(x, 0) + y
    ax.legend(fontsize=8)
    return fig


def _plot_habit_skill(plt, run):
    fig, (habit_ax, skill_ax) = plt.subplots(1, 2, figsize=(6.4, 3.6), sharey=True)
    for ax, title in ((habit_ax, "habit: share that works it out"), (skill_ax, "skill: accuracy of those")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("difficulty")
        ax.grid(alpha=0.3)
        ax.set_ylim(-0.02, 1.02)
    habit_ax.set_ylabel("held-out greedy answers")
    for i, (k, _, habit, skill) in enumerate(run["summary"].habit_and_skill()):
        levels = [int(v) for v in habit]
        habit_ax.plot(levels, list(habit.values()), marker="o", color=f"C{i}", label=f"iteration {k}")
        known = [(int(v), a, habit.get(v, 0.0) < RARE_WORKED) for v, a in skill.items() if a is not None]
        skill_ax.plot([v for v, _, _ in known], [a for _, a, _ in known], color=f"C{i}")
        for v, a, rare in known:  # hollow: the accuracy of a handful of worked answers
            skill_ax.plot([v], [a], marker="o", color=f"C{i}", markerfacecolor="none" if rare else f"C{i}")
    habit_ax.legend(fontsize=7)
    skill_ax.text(
        0.02, 0.02, f"hollow: under {RARE_WORKED:.0%} of answers worked", transform=skill_ax.transAxes, fontsize=7
    )
    return fig


def _habit_skill_html(run) -> str:
    rows = run["summary"].habit_and_skill()
    if not rows:
        return "<p>This run's evaluations carry no habit and skill figures.</p>"
    levels = list(rows[0][1])
    head = "<tr><th>iter</th>" + "".join(f"<th>level {v}</th>" for v in levels) + "</tr>"
    body = []
    for k, accuracy, habit, skill in rows:
        cells = []
        for v in levels:
            worked = "-" if skill.get(v) is None else f"{skill[v]:.2f}"
            cells.append(f"<td>{accuracy[v]:.2f}<br><small>{habit.get(v, 0):.2f} &middot; {worked}</small></td>")
        body.append(f"<tr><td>{k}</td>{''.join(cells)}</tr>")
    note = (
        "<p>Each cell: held-out greedy accuracy, then the share of greedy answers that work the problem "
        "out (habit) &middot; the accuracy of those that do (skill). A gain that raises the habit and "
        "leaves the skill where it was is the Solver answering with its steps more often, not getting "
        "the steps right more often.</p>"
    )
    return f"{note}<table>{head}{''.join(body)}</table>"


def _sample_rows(run, per_iteration: int = 6) -> list[tuple[int, CurriculumRow]]:
    """A few questions per iteration, spread over p_hat: kept and dropped ones, with their votes."""
    picked = []
    for k, rows in run["pools"].items():
        ordered = sorted(rows, key=lambda r: r.p_hat)
        step = max(1, len(ordered) // per_iteration)
        picked += [(k, r) for r in ordered[::step][:per_iteration]]
    return picked


def _table_html(rows: list[tuple[int, CurriculumRow]]) -> str:
    head = "<tr><th>iter</th><th>question</th><th>votes (answer x count)</th><th>pseudo-label</th>"
    head += "<th>p_hat</th><th>kept</th><th>true answer (diagnostics)</th></tr>"
    body = []
    for k, r in rows:
        votes = Counter(a if a is not None else "(none)" for a in r.answers).most_common()
        votes_text = ", ".join(f"{a} x{c}" for a, c in votes)
        cells = [
            str(k),
            f"<code>{html.escape(r.question)}</code>",
            html.escape(votes_text),
            html.escape(str(r.pseudo_label)),
            f"{r.p_hat:.1f}",
            "yes" if r.in_band else "no",
            html.escape("-" if r.oracle_answer is None else r.oracle_answer),
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _summary_html(runs) -> str:
    head = "<tr><th>run</th><th>iter</th><th>held-out greedy</th><th>pseudo-label acc</th><th>kept</th>"
    head += "<th>mean difficulty</th><th>alerts</th></tr>"
    body = []
    for run in runs:
        for entry in run["summary"].iterations:
            cur = entry.curriculum

            def fmt(value):
                return "-" if value is None else f"{value:.3f}"

            alerts = "; ".join(a.trigger for a in entry.alerts) or "-"
            cells = [
                html.escape(run["name"]),
                str(entry.iteration),
                fmt(entry.evaluate.greedy_accuracy),
                fmt(cur.pseudo_label_accuracy if cur else None),
                f"{cur.kept}/{cur.labelled}" if cur else "-",
                fmt(cur.mean_difficulty if cur else None),
                html.escape(alerts),
            ]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>rzero report: {title}</title>
<style>body{{font-family:sans-serif;max-width:1400px;margin:1em auto;color:#222}}
.grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(620px,1fr));gap:12px}}
img{{width:100%;border:1px solid #ddd}} table{{border-collapse:collapse;font-size:13px;margin:8px 0}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}} td:nth-child(2){{text-align:left}}
</style></head><body>
<h1>rzero report: {title}</h1>
<p>{subtitle}</p>
<h2>Per iteration</h2>{summary}
<h2>Habit and skill of {first} by difficulty</h2>{habit_skill}
<h2>Plots</h2><div class="grid">{images}</div>
<h2>Sample questions of {first} (spread over p_hat)</h2>{samples}
</body></html>
"""


def build_report(run_dirs: list[Path], out_dir: Path | None = None) -> Path:
    """Write out_dir/report.html (default: RUN/report/ of the first run) and the PNGs; return the page."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [_load(Path(r)) for r in run_dirs]
    first = runs[0]
    out_dir = Path(out_dir) if out_dir else Path(run_dirs[0]) / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {
        "accuracy": _plot_accuracy(plt, runs),
        "pseudo_labels": _plot_pseudo_labels(plt, first),
        "p_hat": _plot_p_hat(plt, first),
        "difficulty": _plot_difficulty(plt, first),
        "diversity": _plot_diversity(plt, first),
        "challenger_rewards": _plot_rewards(plt, first),
        "wall_time": _plot_wall(plt, first),
    }
    if first["summary"].habit_and_skill():
        plots["habit_skill"] = _plot_habit_skill(plt, first)
        plots["unlocked"] = _plot_unlocked(plt, runs)
    images = []
    for name, fig in plots.items():
        fig.tight_layout()
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        images.append(f'<img alt="{name}" src="data:image/png;base64,{data}">')
    cfg = first["summary"].config
    subtitle = (
        f"domain {html.escape(cfg['domain'])}, model {html.escape(cfg['model']['path'])}, "
        f"{cfg['iterations']} iterations, seed {cfg['seed']}. Accuracies use exact answers for evaluation only."
    )
    page = PAGE.format(
        title=html.escape(", ".join(r["name"] for r in runs)),
        subtitle=subtitle,
        summary=_summary_html(runs),
        habit_skill=_habit_skill_html(first),
        images="".join(images),
        first=html.escape(first["name"]),
        samples=_table_html(_sample_rows(first)),
    )
    atomic_write_text(out_dir / "report.html", page)
    return out_dir / "report.html"
