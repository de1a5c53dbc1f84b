"""`rzero run --dry-run`: the plan, the parameter count from config.json, and nothing written."""

from safetensors.torch import load_file

from rzero.cli import DEFAULT_CONFIG, main
from rzero.config.load import load_config
from rzero.plan.dry_run import describe, parameter_count
from rzero.run.inputs import embedded_base_path


def test_parameter_count_matches_the_checkpoint():
    tensors = load_file(str(embedded_base_path() / "model.safetensors"))
    actual = sum(t.numel() for t in tensors.values())
    assert abs(parameter_count(embedded_base_path()) - actual) <= 0.01 * actual


def test_plan_of_the_default_config():
    lines = describe(load_config(DEFAULT_CONFIG), embedded_base_path())
    text = "\n".join(lines)
    assert "3 iterations" in text and "parameters 3.2M" in text
    assert "<= 3000 Solver sequences" in text  # 300 pool questions x 10 votes
    assert "GRPO 5 steps x 32 questions x 5 rollouts = 800 sequences" in text
    assert "2 optimizer updates per step (10 in all)" in text  # 16 questions per update, as the reference's 128
    assert "GRPO loss  grpo, clip ratio [1 - 0.2, 1 + 0.3], dual-clip 3" in text
    assert "GRPO training about 62 MiB before activations" in text  # 3.2M parameters x 20 bytes (fp32 on CPU)


def test_dry_run_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--dry-run", "--out", str(out), "iterations=2"]) == 0
    assert "2 iterations" in capsys.readouterr().out and not out.exists()


def test_every_shipped_config_validates_and_plans(capsys):
    """Every shipped config plans; the GPU recipes on this CPU machine fail the device check (exit 2),
    and their plan still shows each phase's per-GPU memory estimate."""
    from pathlib import Path

    configs = sorted(DEFAULT_CONFIG.parent.glob("*.yaml"))
    assert {c.name for c in configs} >= {"default.yaml", "qwen3-4b-base.yaml", "qwen3-8b-base.yaml"}
    for path in configs:
        cfg = load_config(path)
        if cfg.launch.accelerate_config:  # written relative to the config file, read from its folder
            assert Path(cfg.launch.accelerate_config).is_absolute() and Path(cfg.launch.accelerate_config).is_file()
        code = main(["run", "--config", str(path), "--dry-run"])
        out = capsys.readouterr().out
        assert "launcher" in out and "not run  weights" in out
        if cfg.model.device == "cpu":
            assert code == 0 and "FAILED" not in out
        else:
            assert code == 2 and "FAILED   device: model.device=cuda but this machine has no such device" in out
            assert "memory per GPU of 79.1 GiB" in out and "GiB per GPU on" in out and "DOES NOT FIT" not in out
            assert "concurrent sequences of 4,608 tokens: fits (>= 16)" in out
    lora = load_config(DEFAULT_CONFIG.parent / "qwen3-4b-base-1gpu-lora.yaml")
    assert lora.model.lora_rank == 64 and lora.launch.mode == "subprocess"
    assert lora.voting.votes_per_question == 10 and lora.curriculum.band_delta == 0.25


def test_lora_parameter_count_matches_peft(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from rzero.plan.dry_run import lora_parameter_count

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    trained = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert lora_parameter_count(tiny_model_dir, 4) == trained
    assert lora_parameter_count(tiny_model_dir, 0) is None


def test_accelerate_configs_are_described_from_the_file(tmp_path):
    from pathlib import Path

    from rzero.plan.dry_run import describe_accelerate

    root = Path(__file__).resolve().parents[1] / "configs" / "accelerate"
    one = describe_accelerate(str(root / "1gpu.yaml"))
    assert "one process on one device, nothing sharded" in one and "bf16" in one and "ZeRO" not in one
    assert "sharded across 8 processes on 1 machine (DeepSpeed ZeRO-3)" in describe_accelerate(
        str(root / "8gpu-zero3.yaml")
    )
    assert "16 processes on 2 machines (DeepSpeed ZeRO-3)" in describe_accelerate(str(root / "multinode-zero3.yaml"))
    ddp = tmp_path / "ddp.yaml"
    ddp.write_text("distributed_type: MULTI_GPU\nnum_processes: 4\nmixed_precision: 'no'\n")
    assert describe_accelerate(str(ddp)) == "data parallel across 4 processes on 1 machine: a full copy of the " + (
        "weights and optimizer on each (MULTI_GPU)"
    )
    ddp.write_text("distributed_type: [\n")
    assert "could not be read" in describe_accelerate(str(ddp))


def test_dry_run_of_a_small_lora_on_one_gpu_config(tiny_model_dir):
    """Issue 14: rank 8 on a small model printed "LoRA: 0M"; the 1-GPU accelerate config said ZeRO-3."""
    from pathlib import Path

    from rzero.plan.dry_run import _count

    one_gpu = Path(__file__).resolve().parents[1] / "configs" / "accelerate" / "1gpu.yaml"
    cfg = load_config(
        DEFAULT_CONFIG, ["model.lora_rank=8", "launch.mode=accelerate", f"launch.accelerate_config={one_gpu}"]
    )
    text = "\n".join(describe(cfg, tiny_model_dir))
    assert "LoRA: 0M" not in text and "ZeRO-3" not in text and "nothing sharded" in text
    assert "(LoRA: " in text and "K trained parameters)" in text
    assert [_count(n) for n in (512, 41_472, 3_241_216, 4.02e9)] == ["512", "41.5K", "3.2M", "4.0B"]


def test_plan_on_cpu_with_vllm_says_what_runs_where():
    """On CPU vLLM serves votes, pools, evaluation and the Solver server; GRPO rollouts stay with HF."""
    cfg = load_config(None, ["model.vllm=true", "challenger.solver_server_devices=cpu", "model.vllm_kv_cache_gib=0.5"])
    text = "\n".join(describe(cfg, embedded_base_path()))
    assert "vLLM (vllm.LLM on CPU, 0.5 GiB KV cache per engine)" in text
    assert "GRPO rollouts: Hugging Face generate" in text and "TRL vLLM" not in text
    assert "a vLLM server of S(k-1) on CPU" in text
