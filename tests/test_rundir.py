"""Run directory: atomic writes keep old content on failure, markers, stage folders."""

import pytest

from rzero.core.rundir import RunDir, atomic_write_json, atomic_write_text, read_jsonl, write_jsonl


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "a" / "f.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two" and [p.name for p in path.parent.iterdir()] == ["f.txt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": object()})  # not serialisable: fails before anything is replaced
    assert path.read_text().strip() == '{\n  "a": 1\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_jsonl_round_trip_and_clear_errors(tmp_path):
    path = tmp_path / "q.jsonl"
    write_jsonl(path, [{"q": "1+1", "votes": ["2", None]}, {"q": "x"}])
    assert read_jsonl(path) == [{"q": "1+1", "votes": ["2", None]}, {"q": "x"}]
    path.write_text('{"ok": 1}\n{broken\n')
    with pytest.raises(ValueError, match="q.jsonl:2"):
        read_jsonl(path)


def test_stage_markers(tmp_path):
    run = RunDir(tmp_path)
    folder = run.begin(1, "challenger")
    (folder / "partial.txt").write_text("left by a crash")
    assert not run.is_done(1, "challenger")
    folder = run.begin(1, "challenger")  # a retry starts clean
    assert not (folder / "partial.txt").exists()
    run.mark_done(1, "challenger", {"seconds": 1.5})
    assert run.is_done(1, "challenger") and run.done_info(1, "challenger") == {"seconds": 1.5}
    assert folder == tmp_path / "iter_01" / "challenger"


def test_remove_temporaries_of_interrupted_writes(tmp_path):
    from rzero.core.rundir import RunDir

    run = RunDir(tmp_path)
    (tmp_path / "iter_01" / "solver").mkdir(parents=True)
    (tmp_path / ".summary.json.abc.tmp").write_text("{")
    (tmp_path / "iter_01" / "solver" / ".rollouts.jsonl.x.tmp").write_text("")
    (tmp_path / "summary.json").write_text("{}")
    assert run.remove_temporaries() == 2
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["summary.json"]
    assert RunDir(tmp_path / "absent").remove_temporaries() == 0
