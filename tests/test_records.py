"""Typed records between stages: their JSON is the one earlier versions wrote, and a key a reader does
not know is an error that names it (not a `-` in a table or an alarm that never fires)."""

import json
from pathlib import Path

import pytest

from rzero.core.records import (
    ChallengerMetrics,
    CurriculumMetrics,
    CurriculumRow,
    EvaluateMetrics,
    Figures,
    IterationRecord,
    RunSummary,
    from_json,
    stage_metrics_from_json,
)

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "testbed"


def test_a_summary_written_before_the_records_reads_and_writes_back_unchanged():
    """summary.json of a run made by the dict-based loop (issue 13's D4 run, committed): every stage's
    metrics, alerts and warnings survive from_json -> to_json byte for byte."""
    saved = json.loads((RESULTS / "d4" / "loop_seed0_rzero_summary.json").read_text())
    summary = from_json(RunSummary, saved)
    assert summary.model_dump() == saved
    first = summary.iterations[1]
    assert first.curriculum.kept == saved["iterations"][1]["curriculum"]["kept"]
    assert first.evaluate.greedy_accuracy == saved["iterations"][1]["evaluate"]["greedy_accuracy"]
    assert first.evaluate.heldout.accuracy_by_difficulty == saved["iterations"][1]["evaluate"]["accuracy_by_difficulty"]


@pytest.mark.parametrize(
    "stage, data, message",
    [
        ("curriculum", {"kept_questions": 3}, "curriculum metrics: unknown key 'kept_questions'"),
        ("challenger", {"reward": 0.3}, "challenger metrics: missing key 'trained'"),
        ("solver", {"trained": True, "mean_rewrd": 0.5}, "solver metrics: unknown key 'mean_rewrd'"),
        ("evaluate", {"problems": 4, "greedy_acc": 0.5}, "unknown key 'greedy_acc'"),
        ("evaluate", {"greedy_accuracy": 0.5}, "greedy_accuracy without the held-out figures or benchmarks"),
    ],
)
def test_unknown_or_missing_keys_are_errors_that_name_them(stage, data, message):
    with pytest.raises(ValueError, match=message):
        stage_metrics_from_json(stage, data)


def test_majority_accuracy_keeps_the_k_in_its_json_key():
    figures = Figures(problems=8, greedy_accuracy=0.5, votes_per_question=10, majority_accuracy=0.625)
    data = figures.model_dump()
    assert data["maj10_accuracy"] == 0.625 and "majority_accuracy" not in data
    assert from_json(Figures, data) == figures
    greedy_only = Figures(problems=8, greedy_accuracy=0.5, accuracy_by_difficulty={"1": 0.5})
    assert greedy_only.model_dump() == {"problems": 8, "greedy_accuracy": 0.5, "accuracy_by_difficulty": {"1": 0.5}}


def test_curriculum_rows_write_diagnostics_only_where_there_are_some():
    row = CurriculumRow(
        question="1+1", difficulty=1, answers=["2", None], pseudo_label="2", p_hat=0.5, group_sizes=[1], in_band=True
    )
    assert set(row.model_dump()) == {
        "question",
        "difficulty",
        "answers",
        "pseudo_label",
        "p_hat",
        "group_sizes",
        "in_band",
    }
    checked = row.model_copy(
        update={"answers": ["2", "3"], "group_sizes": [1, 1], "oracle_answer": "2", "pseudo_label_correct": True}
    )
    assert checked.model_dump()["oracle_answer"] == "2" and from_json(CurriculumRow, checked.model_dump()) == checked
    with pytest.raises(ValueError, match="curriculum row: unknown key 'truth'"):
        from_json(CurriculumRow, {**row.model_dump(), "truth": "2"})


def test_an_iteration_round_trips_with_its_alerts():
    entry = IterationRecord(
        iteration=2,
        evaluate=EvaluateMetrics(heldout=Figures(problems=4, greedy_accuracy=0.25), seconds=3.0),
        challenger=ChallengerMetrics(trained=False),
        curriculum=CurriculumMetrics(sampled=10, labelled=6, kept=3, kept_fraction=0.5, probe_questions=12),
        warnings=["empty curriculum"],
    )
    from rzero.config.schema import MonitorConfig
    from rzero.observe.drift import check

    entry.alerts = check(
        [
            IterationRecord(iteration=0, evaluate=EvaluateMetrics(heldout=Figures(problems=4, greedy_accuracy=0.75))),
            entry,
        ],
        MonitorConfig(),
    )
    data = entry.model_dump()
    assert list(data) == ["iteration", "challenger", "curriculum", "evaluate", "warnings", "alerts"]
    assert data["alerts"][0]["trigger"] == "accuracy_drop" and data["curriculum"]["probe_questions"] == 12
    assert "probe_in_band" not in data["curriculum"]  # probe fields only when a probe ran
    assert from_json(IterationRecord, json.loads(json.dumps(data))) == entry


EARLIER_RUN = Path(__file__).resolve().parent / "data" / "run_0f7349f"  # written by the dataclass records (0f7349f)


def test_a_run_directory_of_the_dataclass_version_reads_and_writes_back_byte_for_byte():
    """The records of `make demo` at 0f7349f (before the records and the config were pydantic models; its
    config, summary, every DONE marker of iterations 0 and 1, the first 40 rows of the pool and the
    curriculum): each reads, and writes back as the same bytes, as the loop writes them (the config with
    the fields added since, at their defaults)."""
    import yaml

    from rzero.config.load import dump_yaml, validated
    from rzero.core.rundir import RunDir, read_jsonl

    run = RunDir(EARLIER_RUN)
    added = (  # fields that came later, at their defaults
        "  main_process_ip: ''\n",
        "  main_process_port: 0\n",
        "  vllm_rollout_share: 0.25\n",
        "  updates_per_step: 4\n",
        "  band_low: null\n",
        "  band_high: null\n",
        "grpo:\n",
        "  loss_type: grpo\n",
        "  clip_ratio_low: 0.2\n",
        "  clip_ratio_high: 0.3\n",
        "  dual_clip_ratio: 3.0\n",
        "  weight_decay: 0.01\n",
    )
    dumped = dump_yaml(validated(yaml.safe_load(run.config_path.read_text())))
    assert (
        "".join(line for line in dumped.splitlines(keepends=True) if line not in added) == run.config_path.read_text()
    )
    summary = run.summary_path.read_text()
    assert json.dumps(from_json(RunSummary, json.loads(summary)).model_dump(), indent=2) + "\n" == summary
    for k, stage in [(0, "evaluate"), *((1, name) for name in ("challenger", "curriculum", "solver", "evaluate"))]:
        marker = (run.stage(k, stage) / "DONE").read_text()
        record = stage_metrics_from_json(stage, json.loads(marker))
        assert json.dumps(record.model_dump(), indent=2) + "\n" == marker, (k, stage)
    for name in ("pool.jsonl", "curriculum.jsonl"):
        path = run.stage(1, "curriculum") / name
        rows = [from_json(CurriculumRow, row) for row in read_jsonl(path)]
        assert "".join(json.dumps(row.model_dump()) + "\n" for row in rows) == path.read_text()


SUMMARIES = sorted(RESULTS.glob("**/*summary.json"))


@pytest.mark.parametrize("path", SUMMARIES, ids=[str(p.relative_to(RESULTS)) for p in SUMMARIES])
def test_every_committed_summary_reads_and_writes_back_stably(path):
    """Every summary.json committed under benchmarks/results/testbed reads; written back and read again it
    is unchanged. Those written since the typed records (all but d1's oracle run, whose untrained Challenger
    metrics predate the record's default fields) come back byte for byte."""
    saved = json.loads(path.read_text())
    once = from_json(RunSummary, saved).model_dump()
    assert from_json(RunSummary, once).model_dump() == once
    if path.relative_to(RESULTS) != Path("d1/loop_seed0_oracle_summary.json"):
        assert json.dumps(once, indent=2) == json.dumps(saved, indent=2)
