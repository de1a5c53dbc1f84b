"""Every output path of every command is checked for writability before any work: a place that takes
no new file (/proc, even for root), a path under a regular file and a path that is a directory end
the command with exit code 2 and one line naming the option and the path; a writable path passes."""

import errno
import json
import re

import pytest

from rzero.cli import main
from rzero.config.schema import ConfigError
from rzero.plan.preflight import check_output, check_writable_file


@pytest.fixture
def no_work(monkeypatch, no_model_loads):
    """Fail the test if a command's work starts (a model load included) before its paths are checked."""
    import rzero.base_model.pretrain
    import rzero.engines.sft
    import rzero.observe.report
    import rzero.run.pipeline
    import rzero.run.worker

    def refuse(*args, **kwargs):
        raise AssertionError("work started before the output path was checked")

    for module, name in [
        (rzero.run.pipeline, "run_evaluate"),
        (rzero.run.pipeline, "run_stage"),
        (rzero.base_model.pretrain, "pretrain"),
        (rzero.engines.sft, "fine_tune"),
        (rzero.run.worker, "follow"),
        (rzero.observe.report, "build_report"),
    ]:
        monkeypatch.setattr(module, name, refuse)


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def run_dir(tmp_path):
    """A run directory as `rzero run` leaves it before its first stage."""
    from rzero.cli import DEFAULT_CONFIG
    from rzero.config.load import dump_yaml, load_config

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.yaml").write_text(dump_yaml(load_config(DEFAULT_CONFIG, [])))
    return folder


# --- the helpers -----------------------------------------------------------------------------------


def test_file_in_proc_is_refused():
    with pytest.raises(ConfigError, match=r"--json /proc/x.json is not writable \(no file can be created in /proc"):
        check_writable_file("/proc/x.json", "--json")


def test_file_under_a_regular_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("keep me")
    expected = f"--json {tmp_path}/file/x.json: {tmp_path}/file is a file, not a directory"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        check_writable_file(tmp_path / "file" / "x.json", "--json")
    assert (tmp_path / "file").read_text() == "keep me"


def test_file_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=re.escape(f"--json {tmp_path} is a directory, not a file")):
        check_writable_file(tmp_path, "--json")


def test_file_in_a_missing_directory_is_refused(tmp_path):
    expected = f"--json {tmp_path}/a/x.json: the directory {tmp_path}/a does not exist"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        check_writable_file(tmp_path / "a" / "x.json", "--json")
    assert not (tmp_path / "a").exists()


def test_writable_file_passes_and_leaves_nothing(tmp_path):
    check_writable_file(tmp_path / "x.json", "--json")
    existing = tmp_path / "kept.json"
    existing.write_text("{}")
    before = existing.stat().st_mtime_ns
    check_writable_file(existing, "--json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json"]
    assert existing.read_text() == "{}" and existing.stat().st_mtime_ns == before


def test_folder_checked_without_creating_it(tmp_path):
    check_output(tmp_path / "a" / "b", "--out", create=False)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ConfigError, match=r"--out /proc/a/b is not writable \(no file can be created in /proc:"):
        check_output("/proc/a/b", "--out", create=False)
    (tmp_path / "file").write_text("")
    expected = f"--out {tmp_path}/file/b: {tmp_path}/file is a file, not a directory"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        check_output(tmp_path / "file" / "b", "--out", create=False)


# --- every command that writes ---------------------------------------------------------------------


def test_eval_json_in_proc_refused_before_the_evaluation(capsys, no_work):
    assert main(["eval", "--json", "/proc/x.json", "eval.problems=16"]) == 2
    err = one_line(capsys)
    assert err.startswith("rzero eval: --json /proc/x.json is not writable (no file can be created in /proc"), err


@pytest.mark.parametrize("where", ["file/x.json", "."], ids=["under a regular file", "a directory"])
def test_eval_json_refused_by_its_shape(tmp_path, capsys, no_work, where):
    (tmp_path / "file").write_text("keep me")
    path = tmp_path / where
    assert main(["eval", "--json", str(path)]) == 2
    err = one_line(capsys)
    assert "--json" in err and str(path) in err
    assert (tmp_path / "file").read_text() == "keep me"


def test_eval_json_writable_passes_to_the_evaluation(tmp_path, capsys, monkeypatch, no_model_loads):
    """A writable --json gets past the checks: the evaluation starts, and its figures land in the file."""
    import rzero.run.pipeline

    def evaluation_starts(*args, **kwargs):
        raise ValueError("the evaluation started")

    monkeypatch.setattr(rzero.run.pipeline, "run_evaluate", evaluation_starts)
    out = tmp_path / "figures.json"
    assert main(["eval", "--json", str(out)]) == 2
    assert "the evaluation started" in capsys.readouterr().err
    assert isinstance(json.loads(out.read_text()), dict)


def test_run_out_in_proc_refused_before_any_model_loads(capsys, no_work):
    assert main(["run", "--out", "/proc/rzero/run"]) == 2
    assert "rzero run: --out /proc/rzero/run is not writable" in one_line(capsys)


def test_stage_run_not_writable_refused_before_the_stage(tmp_path, capsys, monkeypatch, no_work):
    """The run directory of `rzero stage` is probed before the stage; a read-only file system is
    simulated (root writes anywhere else that exists)."""

    def read_only(folder):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("rzero.plan.preflight._probe", read_only)
    folder = run_dir(tmp_path)
    assert main(["stage", "solver", "--run", str(folder), "--iteration", "1"]) == 2
    err = one_line(capsys)
    assert f"rzero stage: --run {folder} is not writable" in err and "Read-only file system" in err


def test_worker_run_in_proc_refused(capsys, no_work):
    assert main(["worker", "--run", "/proc/rzero-run", "--machine-rank", "1"]) == 2
    assert "rzero worker: --run /proc/rzero-run is not writable" in one_line(capsys)


def test_report_out_in_proc_refused(tmp_path, capsys, no_work):
    assert main(["report", str(tmp_path), "--out", "/proc/rzero-report"]) == 2
    assert "rzero report: --out /proc/rzero-report is not writable" in one_line(capsys)


def test_report_default_out_refused(capsys, no_work):
    """Without --out the report goes to FIRST_RUN/report: that place is checked too."""
    assert main(["report", "/proc/self"]) == 2
    assert "rzero report: --out /proc/self/report is not writable" in one_line(capsys)


def test_sft_out_in_proc_refused(capsys, no_work):
    assert main(["sft", "--out", "/proc/rzero-sft", "--examples", "4"]) == 2
    assert "rzero sft: --out /proc/rzero-sft is not writable" in one_line(capsys)


def test_pretrain_out_in_proc_refused(capsys, no_work):
    assert main(["pretrain-base", "--out", "/proc/rzero-base"]) == 2
    assert "rzero pretrain-base: --out /proc/rzero-base is not writable" in one_line(capsys)


def test_sft_and_pretrain_check_without_creating_the_folder(tmp_path, capsys, monkeypatch, no_model_loads):
    """A writable --out passes the check and is not made by it: the work (here refused) comes next."""
    import rzero.base_model.pretrain
    import rzero.engines.sft

    def work_starts(*args, **kwargs):
        raise ValueError("the work started")

    monkeypatch.setattr(rzero.engines.sft, "labelled_rows", work_starts)
    monkeypatch.setattr(rzero.base_model.pretrain, "pretrain", work_starts)
    assert main(["sft", "--out", str(tmp_path / "s")]) == 2
    assert "the work started" in capsys.readouterr().err
    assert main(["pretrain-base", "--out", str(tmp_path / "m")]) == 2
    assert "the work started" in capsys.readouterr().err
    assert not (tmp_path / "s").exists() and not (tmp_path / "m").exists()
