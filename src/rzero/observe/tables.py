"""The tables that `rzero run` and `rzero eval` print, readable in a terminal and in a log file.

Rich fits a table to the terminal; written to a file or a pipe it has no terminal to ask, so every
table is printed there at its natural width (no column squeezed or cut short)."""

from __future__ import annotations

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from rzero.core.records import EvaluateMetrics, RunSummary


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


def print_benchmarks(rows: list[tuple[str, EvaluateMetrics]]) -> None:
    """Greedy accuracy per benchmark and the paper's averages, one row per (label, metrics)."""
    names = list(dict.fromkeys(n for _, m in rows for n in m.benchmarks))
    averages = [a for a in ("math_average", "general_average") if any(getattr(m, a) is not None for _, m in rows)]
    if not names:
        return
    table = Table(title="greedy accuracy (%) per benchmark, as in the paper's tables")
    for column in ["", *names, *averages]:
        table.add_column(column, justify="right")
    for label, metrics in rows:
        per = metrics.benchmarks
        cells = [per[n].greedy_accuracy if n in per else None for n in names] + [getattr(metrics, a) for a in averages]
        table.add_row(label, *("-" if v is None else f"{100 * v:.2f}" for v in cells))
    show(table, minimum_width=120)


def print_figures(metrics: EvaluateMetrics) -> None:
    """`rzero eval`'s held-out figures and accuracy by difficulty, and where Challenger samples were
    drawn, their validity and levels."""
    tables = []
    held = metrics.heldout
    if held:
        table = Table(title="Solver on held-out problems (exact ground truth, evaluation only)")
        table.add_column("figure")
        table.add_column("value", justify="right")
        table.add_row("held-out problems", str(held.problems))
        for name, value in (
            ("greedy_accuracy", held.greedy_accuracy),
            ("pass1_accuracy", held.pass1_accuracy),
            (held.majority_key, held.majority_accuracy),
            ("band_fraction", held.band_fraction),
            ("mean_p_hat", held.mean_p_hat),
        ):
            if value is not None:
                table.add_row(name, f"{value:.3f}")
        if metrics.validity:
            table.add_row("question_validity", f"{metrics.validity.question_validity:.3f}")
            table.add_row(
                "distinct Challenger questions",
                f"{metrics.validity.distinct_questions} / {metrics.validity.challenger_samples}",
            )
        table.add_row("wall time", f"{metrics.seconds:.0f} s")
        levels = Table(title="greedy accuracy by difficulty (number of operations)")
        for level in held.accuracy_by_difficulty or {}:
            levels.add_column(level, justify="right")
        levels.add_row(*(f"{v:.2f}" for v in (held.accuracy_by_difficulty or {}).values()))
        tables += [table, levels]
    if metrics.validity:
        challenger = Table(title="Challenger questions by difficulty")
        for level in metrics.validity.difficulty_histogram:
            challenger.add_column(level, justify="right")
        challenger.add_row(*(str(v) for v in metrics.validity.difficulty_histogram.values()))
        tables.append(challenger)
    show(*tables)


def kept_cell(cur) -> str:
    """`kept/labelled` of a curriculum, with the pool questions dropped as held-out ones when any were."""
    if cur is None:
        return "-"
    dropped = f" (-{cur.heldout_dropped} held-out)" if cur.heldout_dropped else ""
    return f"{cur.kept}/{cur.labelled}{dropped}"


def print_results(summary: RunSummary) -> None:
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

    for it in summary.iterations:
        ev, cur, ch = it.evaluate, it.curriculum, it.challenger
        seconds = sum(part.seconds for part in (ev, cur, ch, it.solver) if part is not None)
        table.add_row(
            str(it.iteration),
            fmt(ev.greedy_accuracy),
            fmt(ev.pseudo_label_accuracy),
            fmt(ev.accuracy_on_own_curriculum),
            kept_cell(cur),
            fmt(cur.mean_p_hat if cur else None),
            fmt(cur.mean_difficulty if cur else None, ".2f"),
            fmt(ch.reward if ch else None),
            f"{seconds:.0f}",
        )
    show(table, minimum_width=120)
    print_habit_and_skill(summary)
    print_benchmarks([(f"iteration {it.iteration}", it.evaluate) for it in summary.iterations])


def print_habit_and_skill(summary: RunSummary) -> None:
    """Per iteration and difficulty: held-out greedy accuracy, and how it splits into habit (share of
    greedy answers that work the problem out) and skill (accuracy of those that do)."""
    rows = summary.habit_and_skill()
    if not rows:
        return
    table = Table(title="held-out greedy by difficulty: accuracy (share that works it out · accuracy of those)")
    table.add_column("iter", justify="right")
    levels = list(rows[0][1])
    for level in levels:
        table.add_column(level, justify="right")
    for k, accuracy, habit, skill in rows:
        cells = []
        for level in levels:
            worked = "-" if skill.get(level) is None else f"{skill[level]:.2f}"
            cells.append(f"{accuracy[level]:.2f} ({habit.get(level, 0.0):.2f}·{worked})")
        table.add_row(str(k), *cells)
    show(table, minimum_width=120)
