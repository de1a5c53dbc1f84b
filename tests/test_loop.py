"""The loop end to end on the shipped base model at a tiny scale: artifacts, learning, band, resume."""

import json

import pytest
from safetensors.torch import load_file

from rzero.config.load import load_config
from rzero.config.schema import ConfigError
from rzero.core.voting import in_band
from rzero.run.inputs import embedded_base_path
from rzero.run.loop import run
from rzero.stages import challenger as challenger_stage
from rzero.stages import solver as solver_stage

TINY = [
    "iterations=1",
    "challenger.grpo_steps=2",
    "challenger.prompts_per_step=4",
    "challenger.rollouts_per_prompt=4",
    "voting.votes_per_question=6",
    "challenger.learning_rate=1e-3",
    "curriculum.pool_questions=48",
    "solver.grpo_steps=2",
    "solver.questions_per_step=4",
    "solver.rollouts_per_question=4",
    "solver.learning_rate=1e-3",
    "solver.max_new_tokens=96",
    "eval.max_new_tokens=96",
    "eval.problems=32",
    "model.threads=2",
]


def tiny_config(*extra):
    from rzero.cli import DEFAULT_CONFIG

    return load_config(DEFAULT_CONFIG, TINY + list(extra))


def jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def weights(path):
    return load_file(str(path / "model.safetensors"))


def changed(a, b):
    return any(not (a[k] == b[k]).all() for k in a)


def test_shipped_configs_validate():
    from rzero.cli import DEFAULT_CONFIG

    assert load_config(DEFAULT_CONFIG).model.path == "embedded"
    paper = load_config(DEFAULT_CONFIG.parent / "qwen3-4b-base.yaml")
    assert paper.curriculum.pool_questions == 8000 and paper.challenger.learning_rate == 1e-6


def test_one_tiny_iteration_end_to_end(tmp_path, monkeypatch):
    seen_reward_columns = set()
    original_call = solver_stage.SolverRewardFunction.__call__

    def spy(self, prompts, completions, **kwargs):
        seen_reward_columns.update(kwargs)
        return original_call(self, prompts, completions, **kwargs)

    monkeypatch.setattr(solver_stage.SolverRewardFunction, "__call__", spy)
    cfg = tiny_config("curriculum.band_delta=0.5")  # keep every labelled question: enough to train on
    summary = run(cfg, tmp_path, log=lambda *_: None)

    it = tmp_path / "iter_01"
    for stage in ("challenger", "curriculum", "solver", "evaluate"):
        assert (it / stage / "DONE").is_file()
    assert (tmp_path / "iter_00" / "evaluate" / "DONE").is_file() and (tmp_path / "config.yaml").is_file()
    base = weights(embedded_base_path())
    assert changed(base, weights(it / "challenger" / "model")), "the Challenger did not change"
    assert changed(base, weights(it / "solver" / "model")), "the Solver did not change"

    train_log = jsonl(it / "challenger" / "train_log.jsonl")
    assert any("challenger/uncertainty" in row for row in train_log), "reward parts missing from the trainer log"
    assert any("solver/agrees_with_pseudo_label" in row for row in jsonl(it / "solver" / "train_log.jsonl"))
    questions = jsonl(it / "challenger" / "questions.jsonl")
    assert len(questions) == 2 * 4 * 4 and {"p_hat", "answers", "uncertainty", "repetition"} <= set(questions[0])
    curriculum = jsonl(it / "curriculum" / "curriculum.jsonl")
    assert curriculum and all(in_band(r["p_hat"], 0.5) for r in curriculum)
    assert "oracle_answer" in curriculum[0]  # kept for diagnostics in the file...
    assert "pseudo_label" in seen_reward_columns and not seen_reward_columns & {"oracle_answer", "pseudo_label_correct"}
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["iterations"][1]["curriculum"]["kept"] == len(curriculum) == summary.iterations[1].curriculum.kept
    assert 0.0 <= saved["iterations"][1]["evaluate"]["greedy_accuracy"] <= 1.0
    assert saved["iterations"][1]["alerts"] == [] or {a["trigger"] for a in saved["iterations"][1]["alerts"]}
    metrics = jsonl(tmp_path / "metrics.jsonl")
    keys = {key for row in metrics for key in row}
    assert {"eval/greedy_accuracy", "curriculum/mean_pairwise_bleu", "challenger/reward"} <= keys
    assert {"challenger/train/uncertainty", "solver/train/loss"} <= keys
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_early_stop_on_an_alert(tmp_path):
    cfg = tiny_config("iterations=2", "monitor.early_stop=true", "monitor.min_keep_fraction=1.0")
    cfg.challenger.train = False
    cfg.solver.grpo_steps = 0
    messages = []
    summary = run(cfg, tmp_path, log=messages.append)
    assert summary.stopped_early == {"iteration": 1, "triggers": ["keep_rate_collapse"]}
    assert len(summary.iterations) == 2 and not (tmp_path / "iter_02").exists()
    assert any(m.startswith("warning: iteration 1: keep_rate_collapse") for m in messages)


def test_early_stop_never_acts_on_held_out_accuracy(tmp_path, monkeypatch):
    """An accuracy_drop alert (the held-out set) is stored and logged; with early_stop on, the run goes on."""
    from rzero.core.records import Alert
    from rzero.observe import drift

    def held_out_alert(history, cfg):
        return [Alert(trigger="accuracy_drop", iteration=history[-1].iteration, message="held-out fell")]

    monkeypatch.setattr(drift, "check", held_out_alert)
    cfg = tiny_config("iterations=2", "monitor.early_stop=true", "challenger.train=false", "solver.grpo_steps=0")
    messages = []
    summary = run(cfg, tmp_path, log=messages.append)
    assert summary.stopped_early is None and len(summary.iterations) == 3
    assert [a.trigger for a in summary.iterations[1].alerts] == ["accuracy_drop"]
    assert any(m.startswith("warning: iteration 1: accuracy_drop") for m in messages)


def test_heldout_keys_cover_the_heldout_file_and_the_benchmarks(tmp_path):
    from rzero.core.domains import question_key
    from rzero.core.domains.arithmetic import ArithmeticDomain
    from rzero.run.inputs import heldout_keys

    domain = ArithmeticDomain()
    assert heldout_keys(tiny_config(), domain) == {question_key(p.question) for p in domain.heldout()}
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text(json.dumps({"question": "7 + 8", "answer": "15", "difficulty": 1}) + "\n")
    (tmp_path / "data" / "aime25").mkdir(parents=True)
    row = {"problem": "Find  X.", "answer": 3}
    (tmp_path / "data" / "aime25" / "test.jsonl").write_text(json.dumps(row) + "\n")
    cfg = tiny_config(f"eval.heldout_file={heldout}", "eval.benchmarks=aime25", f"eval.data_dir={tmp_path / 'data'}")
    assert heldout_keys(cfg, domain) == {"7+8", "findx."}


def test_band_filter_keeps_only_the_band_and_probe_is_measured(tmp_path):
    from rzero.core.domains.arithmetic import ArithmeticDomain, evaluate

    probe = tmp_path / "probe.jsonl"
    pairs = ArithmeticDomain().labelled_examples(12, seed=5)
    probe.write_text("".join(json.dumps({"question": q, "answer": str(evaluate(q))}) + "\n" for q, _ in pairs))
    cfg = tiny_config("solver.grpo_steps=0", "challenger.train=false", f"eval.probe_file={probe}")
    summary = run(cfg, tmp_path / "run", log=lambda *_: None)
    rows = jsonl(tmp_path / "run" / "iter_01" / "curriculum" / "curriculum.jsonl")
    assert all(0.25 - 1e-9 <= r["p_hat"] <= 0.75 + 1e-9 for r in rows)
    cur = summary.iterations[1].curriculum
    assert cur.probe_questions == 12 and 0 <= cur.probe_pseudo_label_accuracy_all <= 1
    probe_rows = jsonl(tmp_path / "run" / "iter_01" / "curriculum" / "probe.jsonl")
    assert len(probe_rows) == 12 and not {r["question"] for r in probe_rows} & {r["question"] for r in rows}
    challenger = summary.iterations[1].challenger
    assert challenger.trained is False and challenger.questions == 0 and challenger.seconds == pytest.approx(0, abs=1)


def test_resume_skips_finished_stages(tmp_path, monkeypatch):
    extra = ("curriculum.band_delta=0.5", "challenger.grpo_steps=1", "solver.grpo_steps=1")
    cfg = tiny_config(*extra)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash in the solver stage")

    monkeypatch.setattr(solver_stage, "train_solver", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(cfg, tmp_path, log=lambda *_: None)
    assert (tmp_path / "iter_01" / "curriculum" / "DONE").is_file()
    assert not (tmp_path / "iter_01" / "solver" / "DONE").exists()
    curriculum_before = (tmp_path / "iter_01" / "curriculum" / "curriculum.jsonl").read_text()

    with pytest.raises(ConfigError, match="--resume"):
        run(cfg, tmp_path, log=lambda *_: None)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished stage ran again")

    monkeypatch.undo()
    monkeypatch.setattr(challenger_stage, "train_challenger", must_not_run)
    import rzero.stages.curriculum

    monkeypatch.setattr(rzero.stages.curriculum, "build_curriculum", must_not_run)
    messages = []
    run(cfg, tmp_path, resume=True, log=messages.append)
    assert (tmp_path / "iter_01" / "solver" / "DONE").is_file() and (
        tmp_path / "iter_01" / "evaluate" / "DONE"
    ).is_file()
    assert "iteration 1 challenger: done earlier, skipped" in messages
    assert (tmp_path / "iter_01" / "curriculum" / "curriculum.jsonl").read_text() == curriculum_before

    with pytest.raises(ConfigError, match="different configuration"):
        run(tiny_config("seed=1"), tmp_path, resume=True, log=lambda *_: None)
    monkeypatch.undo()
    messages = []  # more iterations extend the finished run: iteration 1 is kept, iteration 2 is new
    extended = run(tiny_config("iterations=2", *extra), tmp_path, resume=True, log=messages.append)
    assert "iteration 1 solver: done earlier, skipped" in messages
    assert [entry.iteration for entry in extended.iterations] == [0, 1, 2]
    assert (tmp_path / "iter_02" / "evaluate" / "DONE").is_file()
    with pytest.raises(ConfigError, match="iterations=1, fewer than the run's 2"):
        run(cfg, tmp_path, resume=True, log=lambda *_: None)


def test_stages_as_subprocesses_match_in_process(tmp_path):
    extra = ("challenger.grpo_steps=1", "solver.grpo_steps=1", "curriculum.band_delta=0.5")
    inprocess = run(tiny_config(*extra), tmp_path / "a", log=lambda *_: None)
    messages = []
    sub = run(tiny_config(*extra, "launch.mode=subprocess"), tmp_path / "b", log=messages.append)
    assert (tmp_path / "b" / "iter_01" / "solver.launch.log").exists()
    log = tmp_path / "b" / "iter_01" / "solver.launch.log"
    assert f"iteration 1 solver: started; output in {log}" in messages  # the terminal names each stage's log

    def stable(summary):
        return [
            {
                k: {m: v for m, v in s.items() if m != "seconds"} if isinstance(s, dict) else s
                for k, s in it.model_dump().items()
                if k not in ("alerts", "warnings")
            }
            for it in summary.iterations
        ]

    assert stable(sub) == stable(inprocess)


def test_stage_logs_name_the_process_and_server_logs(tmp_path):
    from rzero.core.rundir import RunDir
    from rzero.run.launch import stage_logs

    run_dir = RunDir(tmp_path)
    assert stage_logs(tiny_config(), run_dir, 1, "solver") == []  # in-process: the terminal is the output
    sub = tiny_config("launch.mode=subprocess")
    assert stage_logs(sub, run_dir, 1, "evaluate") == [tmp_path / "iter_01" / "evaluate.launch.log"]
    served = tiny_config("launch.mode=subprocess", "challenger.solver_server_devices=cpu")
    assert [p.name for p in stage_logs(served, run_dir, 2, "challenger")] == [
        "challenger.launch.log",
        "challenger.rzero_solver_url.log",
    ]


def test_stage_command_skips_a_finished_stage_and_names_bad_runs(tmp_path, capsys):
    from rzero.cli import main
    from rzero.core.rundir import RunDir

    assert main(["stage", "evaluate", "--run", str(tmp_path / "none"), "--iteration", "0"]) == 2
    assert "config file" in capsys.readouterr().err
    run_dir = RunDir(tmp_path / "r")
    (tmp_path / "r").mkdir()
    run_dir.config_path.write_text("iterations: 1\n")
    run_dir.begin(0, "evaluate")
    run_dir.mark_done(0, "evaluate", {"problems": 2, "greedy_accuracy": 0.5})
    assert main(["stage", "evaluate", "--run", str(tmp_path / "r"), "--iteration", "0"]) == 0
    assert "done already" in capsys.readouterr().out
