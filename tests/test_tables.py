"""Tables written to a file or a pipe keep every header and cell whole (issue 14: `rzero eval > log`)."""

from rzero.core.records import EvaluateMetrics, RunSummary, from_json
from rzero.observe.tables import print_benchmarks, print_figures, print_results

FIGURES = from_json(
    EvaluateMetrics,  # as `rzero eval --json` writes them
    {
        "problems": 640,
        "greedy_accuracy": 0.5,
        "pass1_accuracy": 0.4,
        "maj10_accuracy": 0.6,
        "votes_per_question": 10,
        "question_validity": 0.95,
        "distinct_questions": 190,
        "challenger_samples": 200,
        "seconds": 70,
        "accuracy_by_difficulty": {str(level): 0.25 for level in range(1, 16)},
        "difficulty_histogram": {str(level): 1234 for level in range(1, 16)},
    },
)
NAMES = ["gsm8k", "math500", "amc23", "aime24", "aime25", "minerva_math", "olympiadbench", "mmlu_pro", "supergpqa"]


def lines_of(capsys):
    return capsys.readouterr().out.splitlines()


def test_figures_and_benchmarks_print_whole_when_not_a_terminal(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "20")  # a narrow pipe must not squeeze the columns
    print_figures(FIGURES)
    text = "\n".join(lines_of(capsys))
    assert "distinct Challenger questions" in text and "190 / 200" in text and "maj10_accuracy" in text
    assert " ".join(["0.25"] * 3) not in text  # cells are separated by rules, not wrapped together
    assert text.count("1234") == 15 and text.count("0.25") == 15
    benchmarks = {name: {"problems": 50, "greedy_accuracy": 0.1234} for name in NAMES}
    metrics = from_json(
        EvaluateMetrics, {"greedy_accuracy": 0.1, "benchmarks": benchmarks, "math_average": 0.1, "general_average": 0.2}
    )
    print_benchmarks([("iteration 3", metrics)])
    text = "\n".join(lines_of(capsys))
    assert all(name in text for name in [*NAMES, "math_average", "general_average", "iteration 3"])
    assert "…" not in text and text.count("12.34") == len(NAMES)


def test_results_table_has_one_header_line_per_row_in_a_log(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    summary = {
        "config": {},
        "iterations": [
            {"iteration": 0, "evaluate": {"problems": 640, "greedy_accuracy": 0.43, "seconds": 60}},
            {
                "iteration": 1,
                "evaluate": {"problems": 640, "greedy_accuracy": 0.5, "pseudo_label_accuracy": 0.8, "seconds": 60},
                "curriculum": {"kept": 75, "labelled": 150, "mean_p_hat": 0.55, "mean_difficulty": 4.3, "seconds": 90},
                "solver": {"trained": True, "seconds": 200},
            },
        ],
    }
    print_results(from_json(RunSummary, summary))
    lines = lines_of(capsys)
    header = next(line for line in lines if "iter" in line and "held-out greedy" in line)
    assert "pseudo-label acc" in header and "own curriculum acc" in header and "wall s" in header
    row = next(line for line in lines if " 75/150 " in line)
    assert "0.500" in row and "0.800" in row and "4.30" in row and "350" in row
    assert len({len(line) for line in lines[1:]}) == 1  # every line of the table has one width


def test_habit_and_skill_table_splits_accuracy_by_level(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    evaluate = {
        "problems": 512,
        "greedy_accuracy": 0.5,
        "accuracy_by_difficulty": {"3": 0.2, "7": 0.0},
        "worked_share_by_difficulty": {"3": 0.25, "7": 0.0},
        "worked_accuracy_by_difficulty": {"3": 0.8, "7": None},
        "seconds": 1,
    }
    print_results(from_json(RunSummary, {"config": {}, "iterations": [{"iteration": 0, "evaluate": evaluate}]}))
    text = "\n".join(lines_of(capsys))
    assert "share that works it out" in text and "0.20 (0.25·0.80)" in text and "0.00 (0.00·-)" in text


def test_unlocked_levels_are_those_whose_habit_crossed_one_half_since_iteration_0():
    def entry(k, habit):
        figures = {"problems": 64, "greedy_accuracy": 0.5, "accuracy_by_difficulty": {v: 0.5 for v in habit}}
        figures |= {"worked_share_by_difficulty": habit, "worked_accuracy_by_difficulty": dict.fromkeys(habit, 1.0)}
        return {"iteration": k, "evaluate": {**figures, "seconds": 1}}

    habits = [
        {"1": 1.0, "5": 0.0, "6": 0.49, "7": 0.1},  # family 1 works from the start: never "unlocked"
        {"1": 1.0, "5": 0.5, "6": 0.2, "7": 0.1},
        {"1": 0.4, "5": 0.9, "6": 0.6, "7": 0.49},
    ]
    summary = from_json(RunSummary, {"config": {}, "iterations": [entry(k, h) for k, h in enumerate(habits)]})
    assert summary.unlocked_levels() == [(0, []), (1, ["5"]), (2, ["5", "6"])]
    # a lower threshold: family 6 (0.49 at iteration 0) was never locked, family 7 unlocks at 0.49
    assert summary.unlocked_levels(threshold=0.45) == [(0, []), (1, ["5"]), (2, ["5", "7"])]
    no_figures = from_json(RunSummary, {"config": {}, "iterations": [{"iteration": 0, "evaluate": {"seconds": 1}}]})
    assert no_figures.unlocked_levels() == []
