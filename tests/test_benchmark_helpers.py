"""Pure helpers of the benchmark scripts, on hand-made records (issue 13's gates and diagnostics)."""

import importlib.util
import json
from pathlib import Path

import pytest

from rzero.evaluate import ProblemResult

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _result(greedy_ok, sampled, p_hat, majority_ok, completion):
    return ProblemResult("1+2", "3", 1, "3", greedy_ok, tuple("3" for _ in sampled), tuple(sampled), "3", p_hat,
                         majority_ok, completion)  # fmt: skip


def test_level_figures_count_band_labels_and_worked_answers():
    probe = _load("pretrain_probe")
    results = [
        _result(True, [True, True, False, False], 0.5, True, "1+2=3\n\\boxed{3}"),
        _result(False, [False, False, False, True], 0.5, False, "\\boxed{4}"),
        _result(True, [True, True, True, True], 1.0, True, "1+2=3\n\\boxed{3}"),
        _result(False, [False] * 4, 0.25, False, "\\boxed{9}"),
    ]
    f = probe.level_figures(results, votes=4)
    assert f == {
        "greedy": 0.5,
        "pass1": round(7 / 16, 3),
        "maj": 0.5,
        "band": 0.5,
        "band_label_accuracy": 0.5,
        "greedy_worked": 0.5,
    }


def _variant(runs):
    """A `variants` entry from per-seed greedy accuracies and iteration-1 pseudo-label accuracies."""
    acc = [r[0] for r in runs]
    by_iter = list(zip(*acc, strict=True))
    se = _load("self_evolution")
    return {
        "accuracy_by_iteration": acc,
        "pseudo_label_accuracy": [[r[1], r[1]] for r in runs],
        "curriculum_mean_difficulty": [[4.0, 4.5] for _ in runs],
        "mean_accuracy_by_iteration": [se.mean_std(list(v))[0] for v in by_iter],
        "std_accuracy_by_iteration": [se.mean_std(list(v))[1] for v in by_iter],
        "runs": [{"iterations": [{"accuracy_by_difficulty": {"1": 0.9, "2": 0.55, "3": 0.2}}]}],
    }


def test_issue_13_gates_from_seed_means():
    se = _load("self_evolution")
    variants = {
        "rzero": _variant([([0.40, 0.45, 0.52], 0.7), ([0.40, 0.46, 0.50], 0.6)]),
        "base_challenger": _variant([([0.40, 0.44, 0.47], 0.6), ([0.40, 0.43, 0.46], 0.6)]),
        "oracle_labels": _variant([([0.40, 0.50, 0.54], 1.0), ([0.40, 0.50, 0.56], 1.0)]),
    }
    t = se.check_targets(variants)
    assert t["oracle_labels_gain_after_last_iteration"] == pytest.approx(0.15)
    assert t["gate1_oracle_gain_at_least_0.15"] is True
    assert t["rzero_gain_after_last_iteration"] == pytest.approx(0.11)
    assert t["rzero_gain_at_least_0.10"] is True
    assert t["rzero_pseudo_label_accuracy_at_iteration_1"] == pytest.approx(0.65)
    assert t["rzero_minus_base_challenger_at_last_iteration"] == pytest.approx(0.045)
    assert t["rzero_beats_base_challenger_by_more_than_spread"] is True  # spread: std of 0.52, 0.50
    assert t["curriculum_difficulty_rises"] is True
    variants["rzero"] = _variant([([0.40, 0.45, 0.40], 0.5), ([0.40, 0.46, 0.60], 0.5)])
    t = se.check_targets(variants)
    assert t["rzero_beats_base_challenger_by_more_than_spread"] is False  # +0.035 inside a 0.14 spread
    assert t["pseudo_label_accuracy_at_least_0.6_at_iteration_1"] is False
    assert se.frontier_levels(variants, count=2) == ["2", "3"]


def test_worked_share_reads_greedy_completions(tmp_path):
    se = _load("self_evolution")
    rows = [{"greedy_completion": "1+2=3\n\\boxed{3}"}, {"greedy_completion": "\\boxed{3}"}, {"question": "old"}]
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert se.worked_share(path) == 0.5
