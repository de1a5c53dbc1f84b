"""`--dry-run`'s preflight report, Hub ids in model.path, and config paths read from the config's folder."""

import os

import pytest

from rzero.cli import main
from rzero.config.load import load_config
from rzero.config.schema import ConfigError
from rzero.plan.preflight import NotChecked, check_inputs, check_model, dry_run_report, is_hub_id, local_model


def test_dry_run_runs_every_check_and_names_those_it_cannot(tmp_path, capsys):
    out = tmp_path / "run"
    lines, failed = dry_run_report(load_config(None), out)
    text = "\n".join(lines)
    assert not failed and not out.exists()
    for name in ("model", "device", "vLLM", "files", "threads", "output"):
        assert f"ok       {name}:" in text
    assert "not run  weights" in text


def test_dry_run_reports_every_failure_and_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(
        ["run", "--dry-run", "--out", str(blocker / "run"), "eval.heldout_file=missing.jsonl", "model.threads=999"]
    )
    out = capsys.readouterr().out
    assert code == 2 and "3 iterations" in out  # the plan is printed as well
    assert "FAILED   files: eval.heldout_file missing.jsonl does not exist" in out
    assert "FAILED   threads: model.threads=999" in out and "FAILED   output:" in out
    assert blocker.read_text() == "x"


@pytest.mark.parametrize(
    "text, hub",
    [
        ("Qwen/Qwen3-4B-Base", True),
        ("meta-llama/Llama-3.2-1B", True),
        ("/models/Qwen3-4B-Base", False),
        ("models/a/b", False),
        ("../x", False),
        ("Qwen3-4B-Base", False),
        ("embedded", False),
    ],
)
def test_hub_ids_by_hand(text, hub):
    assert is_hub_id(text) == hub


def test_a_hub_id_offline_is_refused_with_the_download_command(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = load_config(None, ["model.path=Qwen/Qwen3-4B-Base"])
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE is set: download it first .hf download Qwen/Qwen3-4B-Base"):
        check_model(cfg)
    assert local_model(cfg) is cfg  # nothing fetched


def test_a_hub_id_online_is_fetched_at_run_start(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    cfg = load_config(None, ["model.path=Qwen/Qwen3-4B-Base"])
    with pytest.raises(NotChecked, match="Hub id"):
        check_model(cfg)
    check_inputs(cfg)  # a real run's preflight lets it through: the download shows whether it exists
    fetched = tmp_path / "cache" / "snapshot"

    def fake_download(repo_id, allow_patterns):
        assert repo_id == "Qwen/Qwen3-4B-Base" and "*.safetensors" in allow_patterns
        fetched.mkdir(parents=True)
        (fetched / "config.json").write_text("{}")
        return str(fetched)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    assert local_model(cfg).model.path == str(fetched) and cfg.model.path == "Qwen/Qwen3-4B-Base"


def test_a_failed_hub_download_names_the_field(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    import huggingface_hub

    def refuse(repo_id, allow_patterns):
        raise OSError("no network")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    with pytest.raises(ConfigError, match="model.path Qwen/Nope: the Hub download failed .OSError: no network"):
        local_model(load_config(None, ["model.path=Qwen/Nope"]))


def test_config_paths_are_read_from_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "recipes"
    (folder / "model").mkdir(parents=True)
    config = folder / "mine.yaml"
    config.write_text(
        "model:\n  path: model\n"
        "launch:\n  mode: accelerate\n  accelerate_config: acc/zero3.yaml\n"
        "eval:\n  heldout_file: held.jsonl\n  data_dir: ../data\n  probe_file: /abs/probe.jsonl\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(config)
    assert cfg.model.path == str(folder / "model")
    assert cfg.launch.accelerate_config == str(folder / "acc" / "zero3.yaml")
    assert cfg.eval.heldout_file == str(folder / "held.jsonl") and cfg.eval.data_dir == str(tmp_path / "data")
    assert cfg.eval.probe_file == "/abs/probe.jsonl"
    overridden = load_config(config, ["eval.heldout_file=mine.jsonl"])  # the command line: the working directory
    assert overridden.eval.heldout_file == "mine.jsonl" and os.path.abspath("mine.jsonl").startswith(str(elsewhere))
    hub = folder / "hub.yaml"
    hub.write_text("model:\n  path: Qwen/Qwen3-4B-Base\n")  # no such folder beside it: a Hub id, kept
    assert load_config(hub).model.path == "Qwen/Qwen3-4B-Base"


def test_shipped_configs_by_name_from_any_folder(tmp_path, monkeypatch, capsys):
    """A wheel has no configs/ folder beside the user: `--config qwen3-4b-base` (or configs/NAME.yaml)
    reads the shipped file, and its accelerate config is found beside it."""
    monkeypatch.chdir(tmp_path)
    for given in ("qwen3-4b-base", "configs/qwen3-4b-base.yaml"):
        assert main(["run", "--config", given, "--dry-run"]) == 2  # no GPU here: the device check fails
        out = capsys.readouterr().out
        assert "memory per GPU of 79.1 GiB" in out and "FAILED   files: launch.accelerate_config" not in out
    assert main(["eval", "--config", "nope"]) == 2
    err = capsys.readouterr().err
    assert "config file nope does not exist (shipped configs, by name: default, qwen3-4b-base" in err


ACCELERATE_FILES = {
    "fsdp": ("distributed_type: FSDP\nnum_processes: 8\n", "FSDP is not supported"),
    "zero3 without 16-bit save": (
        "distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 3\nnum_processes: 8\n",
        "set deepspeed_config.zero3_save_16bit_model: true",
    ),
    "two nodes over pdsh": (
        "distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 3\n  zero3_save_16bit_model: true\n"
        "num_machines: 2\nnum_processes: 16\nmain_process_ip: 10.0.0.7\n",
        "deepspeed_multinode_launcher: standard",
    ),
    "two nodes, no address": (
        "distributed_type: MULTI_GPU\nnum_machines: 2\nnum_processes: 2\n",
        "node 0's address is not set",
    ),
}


@pytest.mark.parametrize("name", ACCELERATE_FILES)
def test_an_accelerate_config_rzero_cannot_run_is_refused(tmp_path, capsys, no_model_loads, name):
    text, expected = ACCELERATE_FILES[name]
    (tmp_path / "accelerate.yaml").write_text(text)
    overrides = ["launch.mode=accelerate", f"launch.accelerate_config={tmp_path / 'accelerate.yaml'}"]
    assert main(["run", "--out", str(tmp_path / "r"), *overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "r" / "config.yaml").exists()


def test_the_shipped_multinode_config_needs_node_0s_address(tmp_path, capsys, no_model_loads):
    from rzero.config.load import SHIPPED

    shipped = ["launch.mode=accelerate", f"launch.accelerate_config={SHIPPED / 'accelerate' / 'multinode-zero3.yaml'}"]
    assert main(["run", "--out", str(tmp_path / "r"), *shipped]) == 2
    assert "launch.main_process_ip: node 0's address is not set (" in capsys.readouterr().err
    report, _ = dry_run_report(load_config(None, [*shipped, "launch.main_process_ip=10.0.0.7"]), tmp_path / "r")
    assert any(
        "ok       launch: DEEPSPEED, ZeRO-3, 16 processes on 2 machines (node 0 at 10.0.0.7)" in line for line in report
    )


def test_gpu_memory_gib_is_checked_against_what_the_gpus_report(monkeypatch):
    """The recipes are sized for 79.1 GiB (an "80 GB" H100 as torch sees it); a GPU that reports
    less, e.g. a 40 GB A100 or an 80 GB card with memory taken, fails preflight with the number to set."""
    import types

    import torch

    from rzero.plan.preflight import check_device

    def fake_gpus(gib: float):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
        monkeypatch.setattr(
            torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(total_memory=gib * 2**30)
        )

    cfg = load_config("configs/qwen3-4b-base.yaml")
    fake_gpus(85_029_158_912 / 2**30)  # an H100 80GB HBM3 as torch sees it (nvidia-smi: 81559 MiB)
    assert check_device(cfg) == "cuda: 8 GPUs, 79.2 GiB usable each"
    fake_gpus(39.4)
    with pytest.raises(ConfigError, match=r"launch.gpu_memory_gib=79.1 but the smallest GPU here reports 39.4 GiB"):
        check_device(cfg)
