"""The tables that `rzero run` and `rzero eval` print, readable in a terminal and in a log file.

Rich fits a table to the terminal; written to a file or a pipe it has no terminal to ask, so every
table is printed there at its natural width (no column squeezed or cut short)."""

from __future__ import annotations

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table


def show(*tables: Table, minimum_width: int = 100) -> None:
    """Print `tables`: at the terminal's width (at least `minimum_width`), or when stdout is no
    terminal, each at the width its content needs."""
    probe = Console()
    for table in tables:
        if probe.is_terminal:
            width = max(probe.width, minimum_width)
        else:
            wide = Console(width=10_000, force_terminal=False)
            width = Measurement.get(wide, wide.options, table).maximum
        Console(width=width).print(table)


def print_benchmarks(rows: list[tuple[str, dict]]) -> None:
    """Greedy accuracy per benchmark and the paper's averages, one row per (label, metrics)."""
    names = list(dict.fromkeys(n for _, m in rows for n in m.get("benchmarks", {})))
    averages = [a for a in ("math_average", "general_average") if any(m.get(a) is not None for _, m in rows)]
    if not names:
        return
    table = Table(title="greedy accuracy (%) per benchmark, as in the paper's tables")
    for column in ["", *names, *averages]:
        table.add_column(column, justify="right")
    for label, metrics in rows:
        per = metrics.get("benchmarks", {})
        cells = [per[n]["greedy_accuracy"] if n in per else None for n in names] + [metrics.get(a) for a in averages]
        table.add_row(label, *("-" if v is None else f"{100 * v:.2f}" for v in cells))
    show(table, minimum_width=120)


def print_figures(figures: dict) -> None:
    """`rzero eval`'s held-out figures, accuracy by difficulty and the Challenger's question levels."""
    table = Table(title="Solver on held-out problems (exact ground truth, evaluation only)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in (
        "greedy_accuracy",
        "pass1_accuracy",
        f"maj{figures.get('votes_per_question', 0)}_accuracy",
        "band_fraction",
        "mean_p_hat",
        "question_validity",
    ):
        if key in figures:
            table.add_row(key, f"{figures[key]:.3f}")
    table.add_row("distinct Challenger questions", f"{figures['distinct_questions']} / {figures['samples']}")
    table.add_row("wall time", f"{figures['wall_seconds']:.0f} s")
    levels = Table(title="greedy accuracy by difficulty (number of operations)")
    for level in figures["accuracy_by_difficulty"]:
        levels.add_column(level, justify="right")
    levels.add_row(*(f"{v:.2f}" for v in figures["accuracy_by_difficulty"].values()))
    challenger = Table(title="Challenger questions by difficulty")
    for level in figures["difficulty_histogram"]:
        challenger.add_column(level, justify="right")
    challenger.add_row(*(str(v) for v in figures["difficulty_histogram"].values()))
    show(table, levels, challenger)


def print_results(summary: dict) -> None:
    """The per-iteration results table of a run."""
    table = Table(title="R-Zero: Solver per iteration (held-out accuracy uses exact answers, evaluation only)")
    for column in (
        "iter",
        "held-out greedy",
        "pseudo-label acc",
        "own curriculum acc",
        "curriculum kept",
        "mean p_hat",
        "mean difficulty",
        "challenger reward",
        "wall s",
    ):
        table.add_column(column, justify="right")

    def fmt(value, spec=".3f"):
        return "-" if value is None else format(value, spec)

    for it in summary["iterations"]:
        ev, cur = it["evaluate"], it.get("curriculum", {})
        ch, so = it.get("challenger", {}), it.get("solver", {})
        seconds = sum(part.get("seconds", 0) for part in (ev, cur, ch, so))
        kept = f"{cur['kept']}/{cur['labelled']}" if cur else "-"
        table.add_row(
            str(it["iteration"]),
            fmt(ev["greedy_accuracy"]),
            fmt(ev.get("pseudo_label_accuracy")),
            fmt(ev.get("accuracy_on_own_curriculum")),
            kept,
            fmt(cur.get("mean_p_hat")),
            fmt(cur.get("mean_difficulty"), ".2f"),
            fmt(ch.get("reward")),
            f"{seconds:.0f}",
        )
    show(table, minimum_width=120)
    print_benchmarks([(f"iteration {it['iteration']}", it["evaluate"]) for it in summary["iterations"]])
