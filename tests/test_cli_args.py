"""Every command checks its own arguments before any work: exit 2 and one line naming the flag."""

import json
import time

import pytest

from rzero.cli import main


@pytest.fixture
def no_work(monkeypatch, no_model_loads):
    """Also fail the test if a training or a worker starts before the arguments are checked."""
    import rzero.base_model.pretrain
    import rzero.engines.sft
    import rzero.run.worker

    def refuse(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(rzero.base_model.pretrain, "train", refuse)
    monkeypatch.setattr(rzero.engines.sft, "fine_tune", refuse)
    monkeypatch.setattr(rzero.run.worker, "follow", refuse)


def run_dir(tmp_path):
    """A run directory as `rzero run` leaves it before its first stage (3 iterations)."""
    from rzero.cli import DEFAULT_CONFIG
    from rzero.config.load import dump_yaml, load_config

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.yaml").write_text(dump_yaml(load_config(DEFAULT_CONFIG, [])))
    return folder


CASES = [
    # (id, arguments, fragment of the one line, with the flag's name)
    # rzero eval takes rzero run's config and dotted overrides: the error names the field
    (
        "eval negative challenger samples",
        ["eval", "eval.challenger_samples=-1"],
        "eval.challenger_samples must be >= 0",
    ),
    ("eval negative votes", ["eval", "eval.votes_per_question=-1"], "eval.votes_per_question must be >= 0"),
    ("eval votes not a number", ["eval", "eval.votes_per_question=ten"], "eval.votes_per_question must be an integer"),
    ("eval negative temperature", ["eval", "eval.temperature=-1"], "eval.temperature must be >= 0"),
    ("eval no new tokens", ["eval", "eval.max_new_tokens=0"], "eval.max_new_tokens must be >= 1"),
    ("eval negative problems", ["eval", "eval.problems=-3"], "eval.problems must be >= 0"),
    ("eval negative threads", ["eval", "model.threads=-1"], "model.threads must be >= 0"),
    ("eval missing model", ["eval", "model.path={tmp}/none"], "model.path {tmp}/none is not a Hugging Face model"),
    ("eval unknown benchmark", ["eval", "eval.benchmarks=gsm9k"], "eval.benchmarks: unknown benchmark 'gsm9k'"),
    (
        "eval benchmark file missing offline",
        ["eval", "eval.benchmarks=gsm8k", "eval.data_dir={tmp}"],
        "eval.benchmarks: {tmp}/gsm8k/test.jsonl does not exist",
    ),
    ("eval missing held-out file", ["eval", "eval.heldout_file={tmp}/h.jsonl"], "eval.heldout_file {tmp}/h.jsonl"),
    ("eval math without benchmarks", ["eval", "domain=math"], "the math domain is evaluated on benchmarks"),
    ("eval moved field", ["eval", "curriculum.votes_per_question=4"], "is now voting.votes_per_question"),
    ("eval override without =", ["eval", "votes"], "override 'votes' must look like section.field=value"),
    ("eval missing config", ["eval", "--config", "{tmp}/c.yaml"], "--config: config file {tmp}/c.yaml does not exist"),
    ("eval json into a missing folder", ["eval", "--json", "{tmp}/a/b.json"], "--json: the folder of {tmp}/a/b.json"),
    ("eval json is a folder", ["eval", "--json", "{tmp}"], "--json: {tmp} is a folder"),
    ("eval unknown domain", ["eval", "domain=chess"], "domain must be one of"),
    ("sft no examples", ["sft", "--out", "{tmp}/s", "--examples", "0"], "--examples: must be an integer >= 1"),
    ("sft zero epochs", ["sft", "--out", "{tmp}/s", "--epochs", "0"], "--epochs: must be a number > 0"),
    ("sft negative rate", ["sft", "--out", "{tmp}/s", "--learning-rate=-1e-4"], "--learning-rate: must be a number"),
    ("sft step of nothing", ["sft", "--out", "{tmp}/s", "--examples-per-step", "0"], "--examples-per-step"),
    (
        "sft missing data",
        ["sft", "--out", "{tmp}/s", "--data", "{tmp}/none.jsonl"],
        "--data: {tmp}/none.jsonl does not",
    ),
    ("sft unknown domain", ["sft", "--out", "{tmp}/s", "--domain", "chess"], "--domain: invalid choice"),
    ("sft out under a file", ["sft", "--out", "{tmp}/file/s"], "--out: {tmp}/file/s: {tmp}/file is a file"),
    ("sft out missing", ["sft"], "the following arguments are required: --out"),
    ("report missing run", ["report", "{tmp}/none"], "runs: {tmp}/none does not exist"),
    (
        "report out under a file",
        ["report", "{tmp}", "--out", "{tmp}/file/r"],
        "--out: {tmp}/file/r: {tmp}/file is a file",
    ),
    ("stage negative iteration", ["stage", "solver", "--run", "{run}", "--iteration", "-1"], "--iteration: must be"),
    ("stage beyond the run", ["stage", "solver", "--run", "{run}", "--iteration", "7"], "--iteration 7: the run has 3"),
    (
        "stage solver at iteration 0",
        ["stage", "solver", "--run", "{run}", "--iteration", "0"],
        "only the evaluate stage",
    ),
    ("stage unknown name", ["stage", "judge", "--run", "{run}", "--iteration", "1"], "invalid choice: 'judge'"),
    ("worker rank 0", ["worker", "--run", "{tmp}", "--machine-rank", "0"], "--machine-rank: must be an integer >= 1"),
    ("worker no poll", ["worker", "--run", "{tmp}", "--machine-rank", "1", "--poll-seconds", "0"], "--poll-seconds"),
    ("pretrain zero steps", ["pretrain-base", "--out", "{tmp}/m", "--steps", "0"], "--steps: must be an integer >= 1"),
    ("pretrain zero threads", ["pretrain-base", "--out", "{tmp}/m", "--threads", "0"], "--threads: must be an integer"),
    ("pretrain missing recipe", ["pretrain-base", "--out", "{tmp}/m", "--recipe", "{tmp}/r.json"], "--recipe: {tmp}/r"),
    ("pretrain out under a file", ["pretrain-base", "--out", "{tmp}/file/m"], "--out: {tmp}/file/m: {tmp}/file is a"),
]


@pytest.mark.parametrize("name, arguments, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_argument_exits_2_with_one_line(tmp_path, capsys, no_work, name, arguments, expected):
    (tmp_path / "file").write_text("keep me")
    names = {"tmp": str(tmp_path), "run": str(run_dir(tmp_path)) if "{run}" in " ".join(arguments) else ""}
    assert main([a.format(**names) for a in arguments]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert expected.format(**names) in err
    assert (tmp_path / "file").read_text() == "keep me"
    assert not any(p.name in ("s", "m", "r") for p in tmp_path.iterdir())


def test_help_still_exits_0(capsys):
    assert main(["eval", "--help"]) == 0
    assert "eval.votes_per_question=10" in capsys.readouterr().out


def test_eval_writes_its_figures_before_printing(tiny_model_dir, tmp_path, monkeypatch):
    """The --json file holds the figures even when printing the tables fails afterwards."""
    import rzero.observe.tables

    def broken(*args, **kwargs):
        raise RuntimeError("terminal gone")

    monkeypatch.setattr(rzero.observe.tables, "print_figures", broken)
    out = tmp_path / "figures.json"
    arguments = ["eval", f"model.path={tiny_model_dir}", "eval.votes_per_question=2", "eval.problems=4"]
    with pytest.raises(RuntimeError, match="terminal gone"):
        main([*arguments, "eval.max_new_tokens=4", "eval.challenger_samples=4", "model.threads=1", "--json", str(out)])
    figures = json.loads(out.read_text())
    assert figures["problems"] == 4 and "greedy_accuracy" in figures and figures["challenger_samples"] == 4


def test_eval_is_the_loops_evaluation_stage(tiny_model_dir, tmp_path):
    """One evaluation path: `rzero eval` with a run's overrides gives exactly the figures of that run's
    iteration-0 evaluation stage (same seed, same sampling, same problems)."""
    from rzero.cli import DEFAULT_CONFIG
    from rzero.config.load import load_config
    from rzero.core.records import EvaluateMetrics, from_json
    from rzero.core.rundir import RunDir
    from rzero.run.inputs import build_domain
    from rzero.run.pipeline import run_stage

    overrides = [f"model.path={tiny_model_dir}", "eval.problems=6", "eval.max_new_tokens=6", "model.threads=1"]
    overrides += ["eval.votes_per_question=3", "seed=4"]
    assert main(["eval", "--json", str(tmp_path / "eval.json"), *overrides]) == 0
    by_eval = from_json(EvaluateMetrics, json.loads((tmp_path / "eval.json").read_text()))
    cfg = load_config(DEFAULT_CONFIG, overrides)
    in_the_loop = run_stage(cfg, RunDir(tmp_path / "run"), build_domain(cfg), 0, "evaluate")
    by_eval.seconds = in_the_loop.seconds = 0.0
    assert by_eval == in_the_loop and by_eval.heldout.problems == 6 and by_eval.heldout.votes_per_question == 3


def test_an_interrupt_anywhere_in_a_command_exits_130_with_the_resume_hint(monkeypatch, capsys, tmp_path):
    """A KeyboardInterrupt that escapes a command's own handling (say, while the report is built after
    the run) still ends in exit code 130 and one line, never a traceback and death by SIGINT."""
    from rzero import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_run", interrupted)
    assert cli.main(["run", "--out", str(tmp_path / "r")]) == 130
    assert f"rzero run: interrupted; finished stages are kept: rzero run --out {tmp_path / 'r'} --resume" in (
        capsys.readouterr().err
    )


def test_a_caught_interrupt_in_execd_code_still_exits_130_under_python_m(tmp_path):
    """CPython 3.11: a KeyboardInterrupt raised inside exec'd code and caught still makes a `python -m`
    module die by SIGINT (-2) whatever it returns. `rzero.cli.exit_with` (what `python -m rzero.cli`
    ends with, as the stage processes and tests run it) exits 130 all the same."""
    import signal
    import subprocess
    import sys

    (tmp_path / "interrupted.py").write_text(
        "import os, signal\n"
        "from rzero.cli import exit_with\n"
        "try:\n"
        "    exec('os.kill(os.getpid(), signal.SIGINT)\\nimport time\\ntime.sleep(5)')\n"
        "except KeyboardInterrupt:\n"
        "    print('caught')\n"
        "exit_with(130)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "interrupted"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a terminal's SIGINT
        timeout=60,
    )
    assert done.returncode == 130 and "caught" in done.stdout, (done.returncode, done.stderr[-2000:])


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_that_a_library_turns_into_another_error_still_stops_the_run(monkeypatch, capsys, tmp_path, stop):
    """Ctrl-C while TRL imports can come out as RuntimeError (Python wraps an exception raised in a
    dataclass's __set_name__, TRL's lazy import wraps it again): `rzero run` still ends as stopped,
    exit 130 with the resume line, and gives the previous signal handlers back."""
    import os
    import signal

    from rzero import cli
    from rzero.run import loop

    def run(cfg, out, resume=False):
        try:
            os.kill(os.getpid(), getattr(signal, stop))
            time.sleep(5)
        except KeyboardInterrupt as error:
            raise RuntimeError("Failed to import trl.trainer.grpo_trainer") from error
        raise AssertionError("the signal did not arrive")

    def failing(cfg, out, resume=False):
        raise RuntimeError("a real failure")

    sigint = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal gives it
    try:
        sigterm = signal.getsignal(signal.SIGTERM)
        monkeypatch.setattr(loop, "run", run)
        assert cli.main(["run", "--out", str(tmp_path / "r"), "iterations=1"]) == 130
        assert f"rzero run: stopped by {stop}; finished stages are kept" in capsys.readouterr().err
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) is sigterm
        monkeypatch.setattr(loop, "run", failing)
        with pytest.raises(RuntimeError, match="a real failure"):  # no stop signal: the error is not hidden
            cli.main(["run", "--out", str(tmp_path / "r2"), "iterations=1"])
    finally:
        signal.signal(signal.SIGINT, sigint)


def test_overrides_may_come_before_and_after_the_flags(tmp_path, capsys):
    """`rzero run a=1 --dry-run b=2`: argparse alone leaves b=2 over ("unrecognized arguments"); every
    override counts, in order, wherever it stands; a stray flag is still refused."""
    out = tmp_path / "run"
    assert main(["run", "iterations=2", "--dry-run", "--out", str(out), "seed=7", "iterations=4"]) == 0
    text = capsys.readouterr().out
    assert "4 iterations" in text and "seed 7" in text and not out.exists()
    assert main(["config", "solver.grpo_steps=3", "--config", "default", "challenger.grpo_steps=2"]) == 0
    text = capsys.readouterr().out
    assert "  grpo_steps: 2\n" in text and "  grpo_steps: 3\n" in text
    assert main(["run", "iterations=2", "--dry-run", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_a_shipped_accelerate_config_by_its_clone_path_works_from_anywhere(tmp_path, monkeypatch):
    """Outside a clone `configs/accelerate/...` names no file; as an override (or in a user's config) it
    means the shipped file, as `--config configs/qwen3-4b-base.yaml` does."""
    from rzero.config.load import SHIPPED, load_config

    monkeypatch.chdir(tmp_path)
    for value in ("configs/accelerate/multinode-zero3.yaml", "accelerate/multinode-zero3.yaml", "multinode-zero3"):
        cfg = load_config(SHIPPED / "qwen3-4b-base.yaml", [f"launch.accelerate_config={value}"])
        assert cfg.launch.accelerate_config == str(SHIPPED / "accelerate" / "multinode-zero3.yaml")
    (tmp_path / "accelerate").mkdir()
    (tmp_path / "accelerate" / "multinode-zero3.yaml").write_text("num_processes: 2\n")
    mine = load_config(None, ["launch.accelerate_config=accelerate/multinode-zero3.yaml"])
    assert mine.launch.accelerate_config == "accelerate/multinode-zero3.yaml"  # a file of the user's wins
    missing = load_config(None, ["launch.accelerate_config=configs/accelerate/nope.yaml"])
    assert missing.launch.accelerate_config == "configs/accelerate/nope.yaml"  # preflight names it missing


def test_a_shipped_accelerate_config_by_name_in_a_users_config_file(tmp_path, monkeypatch):
    """In a user's config file a bare shipped name resolves too; a missing absolute path is never swapped
    for a shipped file of the same name (preflight names it), and a file beside the config wins."""
    from rzero.config.load import SHIPPED, load_config

    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine.yaml"
    mine.write_text("launch:\n  accelerate_config: multinode-zero3\n")
    assert load_config(mine).launch.accelerate_config == str(SHIPPED / "accelerate" / "multinode-zero3.yaml")
    gone = "/cluster/nowhere/accelerate/8gpu-zero3.yaml"
    mine.write_text(f"launch:\n  accelerate_config: {gone}\n")
    assert load_config(mine).launch.accelerate_config == gone
    assert load_config(None, [f"launch.accelerate_config={gone}"]).launch.accelerate_config == gone
    (tmp_path / "accelerate").mkdir()
    (tmp_path / "accelerate" / "8gpu-zero3.yaml").write_text("num_processes: 8\n")
    mine.write_text("launch:\n  accelerate_config: accelerate/8gpu-zero3.yaml\n")
    assert load_config(mine).launch.accelerate_config == str(tmp_path / "accelerate" / "8gpu-zero3.yaml")
    mine.write_text("launch:\n  accelerate_config: accelerate/nope.yaml\n")
    assert load_config(mine).launch.accelerate_config == str(tmp_path / "accelerate" / "nope.yaml")


def test_data_fetch_takes_names_on_both_sides_of_a_flag(monkeypatch):
    from rzero.cli import build_parser, parse_command_line

    args = parse_command_line(build_parser(), ["data", "fetch", "gsm8k", "--force", "aime24"])
    assert args.names == ["gsm8k", "aime24"] and args.force
