"""Drift and collapse triggers on synthetic metric sequences; metrics keys and metrics.jsonl."""

import json

import pytest

from rzero.config.load import load_config
from rzero.config.schema import ConfigError, MonitorConfig
from rzero.core.records import ChallengerMetrics, CurriculumMetrics, EvaluateMetrics, Figures, IterationRecord
from rzero.core.rundir import RunDir, write_jsonl
from rzero.observe import drift
from rzero.observe.metrics import metrics_rows, stage_scalars, train_scalars

HEALTHY = {"kept_fraction": 0.4, "mean_pairwise_bleu": 0.2, "distinct_fraction": 0.9}


def evaluated(accuracy):
    return EvaluateMetrics(heldout=Figures(problems=10, greedy_accuracy=accuracy))


def history(accuracies, curricula=None, rewards=None):
    rows = [IterationRecord(iteration=0, evaluate=evaluated(accuracies[0]))]
    for k, acc in enumerate(accuracies[1:], start=1):
        rows.append(
            IterationRecord(
                iteration=k,
                evaluate=evaluated(acc),
                curriculum=CurriculumMetrics(**(curricula or {}).get(k, HEALTHY)),
                challenger=ChallengerMetrics(trained=True, reward=(rewards or {}).get(k, 0.3)),
            )
        )
    return rows


def triggers(rows, **kw):
    return [a.trigger for a in drift.check(rows, MonitorConfig(**kw))]


def test_healthy_runs_raise_nothing():
    assert triggers(history([0.60, 0.62, 0.65, 0.66])) == []
    assert triggers(history([0.60])) == []
    assert triggers(history([0.60, 0.58])) == []  # a 0.02 dip is within the default 0.05


def test_accuracy_drop_compares_with_the_best_so_far():
    assert triggers(history([0.60, 0.70, 0.66, 0.64])) == ["accuracy_drop"]  # 0.06 below 0.70
    assert triggers(history([0.60, 0.70, 0.66])) == []
    assert triggers(history([0.60, 0.70, 0.66]), accuracy_drop=0.03) == ["accuracy_drop"]
    alert = drift.check(history([0.60, 0.70, 0.64]), MonitorConfig())[0]
    assert alert.iteration == 2 and "0.700" in alert.message


def test_diversity_collapse_on_bleu_or_distinct_share():
    similar = {**HEALTHY, "mean_pairwise_bleu": 0.8}
    assert triggers(history([0.6, 0.6, 0.6], {2: similar})) == ["diversity_collapse"]
    assert triggers(history([0.6, 0.6], {1: {**HEALTHY, "distinct_fraction": 0.1}})) == ["diversity_collapse"]
    assert triggers(history([0.6, 0.6], {1: similar}), max_pool_bleu=0.9) == []


def test_keep_rate_collapse():
    assert triggers(history([0.6, 0.6], {1: {**HEALTHY, "kept_fraction": 0.01}})) == ["keep_rate_collapse"]
    assert triggers(history([0.6, 0.6], {1: {**HEALTHY, "kept_fraction": 0.01}}), min_keep_fraction=0) == []


def test_reward_saturation_and_several_at_once():
    assert triggers(history([0.6, 0.6], rewards={1: 0.95})) == ["reward_saturation"]
    bad = {"kept_fraction": 0.0, "mean_pairwise_bleu": 0.9, "distinct_fraction": 0.05}
    got = triggers(history([0.7, 0.5], {1: bad}, {1: 0.99}))
    assert got == ["accuracy_drop", "diversity_collapse", "keep_rate_collapse", "reward_saturation"]


def test_missing_figures_are_not_alarms():
    rows = history([0.6, 0.6])
    rows[1].curriculum = CurriculumMetrics(kept_fraction=0.3, distinct_fraction=0.9)  # BLEU unmeasured: None
    rows[1].challenger = ChallengerMetrics(trained=False)
    assert triggers(rows) == []
    rows[1].curriculum = None
    rows[1].evaluate = EvaluateMetrics()  # no held-out set and no benchmarks: no accuracy figure
    assert triggers(rows) == []


@pytest.mark.parametrize("field", ["accuracy_drop", "max_pool_bleu", "min_keep_fraction", "reward_saturation"])
def test_monitor_thresholds_are_validated(field):
    with pytest.raises(ConfigError, match=f"monitor.{field}"):
        load_config(None, [f"monitor.{field}=1.5"])


def test_stage_and_train_keys_are_namespaced():
    got = stage_scalars("evaluate", {"greedy_accuracy": 0.5, "accuracy_by_difficulty": {"1": 1.0}, "note": "x"})
    assert got == {"eval/greedy_accuracy": 0.5, "eval/accuracy_by_difficulty/1": 1.0}
    assert stage_scalars("curriculum", {"kept": 3, "mean_p_hat": None}) == {"curriculum/kept": 3.0}
    step, scalars = train_scalars("challenger", {"step": 2, "loss": 0.1, "rewards/challenger_reward/mean": 0.3})
    assert step == 2 and scalars == {"challenger/train/loss": 0.1, "challenger/train/challenger_reward": 0.3}
    assert train_scalars("solver", {"train_runtime": 3.0}) is None


def test_metrics_jsonl_rows_follow_the_markers(tmp_path):
    run = RunDir(tmp_path)
    run.begin(0, "evaluate")
    run.mark_done(0, "evaluate", {"greedy_accuracy": 0.5})
    folder = run.begin(1, "solver")
    write_jsonl(folder / "train_log.jsonl", [{"step": 1, "loss": 0.2}, {"step": 2, "loss": 0.1}])
    run.mark_done(1, "solver", {"mean_reward": 0.4})
    run.begin(1, "evaluate")  # begun, never finished: not in the metrics
    rows = metrics_rows(run, 3)
    assert [(r["iteration"], r["stage"], r.get("step")) for r in rows] == [
        (0, "evaluate", None),
        (1, "solver", None),
        (1, "solver", 1),
        (1, "solver", 2),
    ]
    assert rows[1]["solver/mean_reward"] == 0.4 and rows[3]["solver/train/loss"] == 0.1
    json.dumps(rows)


def test_early_stop_may_act_on_label_free_triggers_only():
    """accuracy_drop reads the held-out set: it is reported, and `stopping` never passes it on."""
    rows = history([0.60, 0.70, 0.60], {2: {**HEALTHY, "kept_fraction": 0.01}})
    alerts = drift.check(rows, MonitorConfig())
    assert [a.trigger for a in alerts] == ["accuracy_drop", "keep_rate_collapse"]
    assert [a.trigger for a in drift.stopping(alerts)] == ["keep_rate_collapse"]
    assert drift.stopping(drift.check(history([0.60, 0.70, 0.60]), MonitorConfig())) == []
    assert "accuracy_drop" not in drift.STOPPING_TRIGGERS
