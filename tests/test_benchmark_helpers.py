"""Pure helpers of the benchmark scripts, on hand-made records (issue 13's gates and diagnostics)."""

import importlib.util
import json
from pathlib import Path

import pytest

from rzero.core.domains.arithmetic import ArithmeticDomain
from rzero.stages.evaluate import ProblemResult

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _result(greedy_ok, sampled, p_hat, majority_ok, completion, sampled_worked=None):
    worked = tuple(sampled_worked if sampled_worked is not None else [True] * len(sampled))
    return ProblemResult("1+2", "3", 1, "3", greedy_ok, tuple("3" for _ in sampled), tuple(sampled), "3", p_hat,
                         majority_ok, completion, ArithmeticDomain().shows_work("1+2", completion), worked)  # fmt: skip


def test_level_figures_count_band_labels_habit_and_skill():
    probe = _load("pretrain_probe")
    results = [
        _result(True, [True, True, False, False], 0.5, True, "1+2=3\n\\boxed{3}", [True, True, False, False]),
        _result(False, [False, False, False, True], 0.5, False, "\\boxed{4}", [False, False, False, True]),
        _result(True, [True, True, True, True], 1.0, True, "1+2=3\n\\boxed{3}"),
        _result(False, [False] * 4, 0.25, False, "\\boxed{9}", [False] * 4),
    ]
    f = probe.level_figures(results)
    assert f == {
        "greedy": 0.5,
        "pass1": round(7 / 16, 3),
        "maj": 0.5,
        "band": 0.5,
        "band_label_accuracy": 0.5,
        "greedy_worked": 0.5,
        "greedy_worked_right": 1.0,
        "sampled_worked": round(7 / 16, 3),
        "sampled_worked_right": 1.0,
    }
    screen = probe.screen(results, {"by_level": {"1": {"sampled_worked_right": 0.85}}})
    assert screen["maj_minus_greedy"] == 0.0 and screen["in_band_majority_right"] == 0.5
    assert screen["sampled_worked_right_shortfall_vs_reference"] == {"1": -0.15}
    assert screen["skill_within_0.10_of_reference_at_levels_1_5"] is True
    assert screen["maj_minus_greedy_at_least_0.25"] is False


def _variant(runs):
    """A `variants` entry from per-seed greedy accuracies and pseudo-label accuracies (iterations 1, 2)."""
    acc = [r[0] for r in runs]
    by_iter = list(zip(*acc, strict=True))
    se = _load("self_evolution")
    iterations = [
        {
            "accuracy_by_difficulty": {"1": 0.9, "2": 0.55, "3": 0.2},
            "worked_share_by_difficulty": {"1": 1.0, "2": 0.5, "3": 0.2 + 0.4 * k},
            "worked_accuracy_by_difficulty": {"1": 0.9, "2": 0.8, "3": 0.5 + 0.1 * k},
        }
        for k in range(3)
    ]
    runs_ = [{"iterations": iterations} for _ in runs]
    return {
        "accuracy_by_iteration": acc,
        "pseudo_label_accuracy": [[r[1], r[1]] for r in runs],
        "curriculum_mean_difficulty": [[4.0, 4.5] for _ in runs],
        "mean_accuracy_by_iteration": [round(se.mean_std(list(v))[0], 4) for v in by_iter],  # as `aggregate`
        "std_accuracy_by_iteration": [round(se.mean_std(list(v))[1], 4) for v in by_iter],
        "habit_and_skill": se.habit_and_skill(runs_),
        "runs": runs_,
    }


def test_issue_21_gates_from_seed_means():
    se = _load("self_evolution")
    variants = {
        "rzero": _variant([([0.30, 0.45, 0.52], 0.85), ([0.30, 0.46, 0.50], 0.8)]),
        "base_challenger": _variant([([0.30, 0.44, 0.47], 0.6), ([0.30, 0.43, 0.46], 0.6)]),
        "oracle_labels": _variant([([0.30, 0.50, 0.54], 1.0), ([0.30, 0.50, 0.56], 1.0)]),
    }
    t = se.check_targets(variants)
    assert t["oracle_labels_gain_after_last_iteration"] == pytest.approx(0.25)
    assert t["gate1_oracle_gain_at_least_rzero_gain"] is True
    assert t["rzero_gain_after_last_iteration"] == pytest.approx(0.21)
    assert t["rzero_gain_at_least_0.20"] is True
    assert t["rzero_in_band_pseudo_label_accuracy_by_iteration"] == [0.825, 0.825]
    assert t["in_band_pseudo_label_accuracy_at_least_0.8_every_iteration"] is True
    assert t["rzero_minus_base_challenger_at_last_iteration"] == pytest.approx(0.045)
    assert t["rzero_beats_base_challenger_by_more_than_spread"] is True  # spread: std of 0.52, 0.50
    assert t["curriculum_difficulty_rises"] is True
    assert t["rzero_skill_at_hardest_levels"]["3"] == {
        "first_iteration": 0,
        "first": 0.5,
        "last_iteration": 2,
        "last": 0.7,
        "change": 0.2,
    }
    variants["rzero"] = _variant([([0.40, 0.45, 0.40], 0.5), ([0.40, 0.46, 0.60], 0.9)])
    t = se.check_targets(variants)
    assert t["rzero_beats_base_challenger_by_more_than_spread"] is False  # +0.035 inside a 0.14 spread
    assert t["in_band_pseudo_label_accuracy_at_least_0.8_every_iteration"] is False  # 0.7 on average
    assert t["gate1_oracle_gain_at_least_rzero_gain"] is True and t["rzero_gain_at_least_0.20"] is False
    assert se.frontier_levels(variants, count=2) == ["2", "3"]


def test_gates_compare_exact_means_not_the_rounded_ones():
    """The committed run's last iteration: R-Zero 350/512 on every seed, the Base-Challenger 350, 348
    and 349: the exact gap 1/512 equals the spread 1/512, which is not more, though both round to 0.002
    and the rounded means (0.6836 - 0.6816) differ by a hair more than that."""
    se = _load("self_evolution")
    variants = {
        "rzero": _variant([([0.3203125, 350 / 512], 0.9)] * 3),
        "base_challenger": _variant(
            [([0.3203125, 350 / 512], 0.9), ([0.3203125, 348 / 512], 0.9), ([0.3203125, 349 / 512], 0.9)]
        ),  # fmt: skip
    }
    rounded = variants["rzero"]["mean_accuracy_by_iteration"][-1] - variants["base_challenger"][
        "mean_accuracy_by_iteration"][-1]  # fmt: skip
    assert rounded > variants["base_challenger"]["std_accuracy_by_iteration"][-1]  # the old reading: beats
    t = se.check_targets(variants)
    assert t["rzero_minus_base_challenger_at_last_iteration"] == t["seed_spread_at_last_iteration"] == 0.002
    assert t["rzero_beats_base_challenger_by_more_than_spread"] is False
    variants["rzero"] = _variant([([0.30, 0.49996], 0.9)] * 2)  # gain 0.19996: rounds to 0.2000, is less
    t = se.check_targets(variants)
    assert t["rzero_gain_after_last_iteration"] == 0.2 and t["rzero_gain_at_least_0.20"] is False


def test_probe_screen_gates_exact_values():
    """maj - greedy = 1999/8000 = 0.249875, shown as 0.25, is not >= 0.25."""
    probe = _load("pretrain_probe")
    results = [_result(False, [False, False], 0.5, i < 1999, "\\boxed{4}", [False, False]) for i in range(8000)]
    screen = probe.screen(results, None)
    assert screen["maj_minus_greedy"] == 0.25 and screen["maj_minus_greedy_at_least_0.25"] is False


def test_repetition_penalty_target_reads_the_exact_speedup():
    bench = _load("repetition_penalty")
    rows = [{"speedup": 50.0, "adjusted_rand_index": 1.0}]  # 49.96 as the record rounds it
    assert bench.target_met([49.96], rows) is False
    assert bench.target_met([50.0], rows) is True
    assert bench.target_met([80.0], [{"speedup": 80.0, "adjusted_rand_index": 0.9}]) is False


def test_habit_and_skill_pool_answers_over_seeds():
    """Skill pooled over seeds weighs each seed by its worked answers: (0.5 * 1.0 + 0.1 * 0.0) / 0.6."""
    se = _load("self_evolution")

    def run(habit, skill):
        return {"iterations": [{
            "accuracy_by_difficulty": {"7": habit * (skill or 0)},
            "worked_share_by_difficulty": {"7": habit},
            "worked_accuracy_by_difficulty": {"7": skill},
        }]}  # fmt: skip

    table = se.habit_and_skill([run(0.5, 1.0), run(0.1, 0.0)])["by_iteration"][0]["by_difficulty"]["7"]
    assert table == {"accuracy": 0.25, "habit": 0.3, "skill": round(0.5 / 0.6, 4)}
    assert se.habit_and_skill([run(0.0, None)])["by_iteration"][0]["by_difficulty"]["7"]["skill"] is None
    lines = se.habit_skill_table({"rzero": {"habit_and_skill": se.habit_and_skill([run(0.5, 1.0)])}})
    assert lines[-1] == "| rzero | 0 | 0.50 (0.50 · 1.00) |"


def test_worked_share_reads_greedy_completions(tmp_path):
    se = _load("self_evolution")
    rows = [
        {"question": "1+2", "greedy_completion": "1+2=3\n\\boxed{3}"},
        {"question": "1+2", "greedy_completion": "\\boxed{3}"},
        {"question": "1+2", "greedy_completion": "Work:\n\\boxed{3}"},  # a line, but no step: hasty
        {"question": "2*3+1", "greedy_completion": "2*3=6;6+1\n6+1=7\n\\boxed{7}"},
        {"question": "old"},  # rows without a completion are left out
    ]
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert se.worked_share(path) == 0.5


def test_label_diagnostics_read_a_pool_as_the_curriculum_stage_writes_it(tmp_path):
    """The benchmark's collection reads pool.jsonl through the records (it broke when records stopped
    carrying their own from_json, issue 28, and nothing failed until a collection ran)."""
    from rzero.core.records import CurriculumRow
    from rzero.core.rundir import write_jsonl

    def row(question, difficulty, label, right, in_band=True):
        return CurriculumRow(question=question, difficulty=difficulty, answers=[label] * 5, pseudo_label=label,
                             p_hat=0.5, group_sizes=[5], in_band=in_band, oracle_answer="0",
                             pseudo_label_correct=right).model_dump()  # fmt: skip

    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, [row("1+2", 2, "3", True), row("1+2+3", 2, "5", False), row("9*9", 1, "81", True, False)])
    figures = _load("self_evolution").label_diagnostics(pool)
    assert figures["in_band_label_accuracy_by_difficulty"] == {"2": [1, 2]}
    assert figures["wrong_majorities_at_7_plus"] == 0
