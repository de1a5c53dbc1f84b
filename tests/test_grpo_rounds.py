"""A GRPO step is one generation round, rewarded in one call, then `updates_per_step` optimizer updates:
the reference's batching (the Solver: 512 prompts per round, 128 per update), run for real on a tiny model."""

import json

from rzero.engines.grpo import GRPOPhase, prompt_dataset, train_phase


def test_one_round_is_rewarded_once_and_makes_two_updates(tiny_model_dir, tmp_path):
    calls: list[int] = []

    def reward(prompts, completions, **_):  # longer is better: any policy change shows up
        calls.append(len(completions))
        return [float(len(c)) for c in completions]

    phase = GRPOPhase(
        rounds=3,
        prompts_per_step=4,
        rollouts_per_prompt=2,
        learning_rate=5e-2,
        kl_coef=0.0,
        temperature=1.0,
        top_p=1.0,
        max_new_tokens=8,
        updates_per_step=2,
        sequences_per_micro_batch=2,
    )
    prompts = [f"Problem: {i}+1\nSolution:\n" for i in range(12)]
    train_phase(tiny_model_dir, prompt_dataset(prompts), [reward], phase, tmp_path)
    assert calls == [8, 8, 8]  # the reward function sees each round whole: 4 prompts x 2 rollouts, 3 rounds
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    steps = [row for row in log if "loss" in row]
    assert [row["step"] for row in steps] == [1, 2, 3, 4, 5, 6]  # 2 optimizer updates per round
    # the second update of a round starts from weights the first one moved: the PPO ratio leaves 1 and the
    # clip can act (TRL logs the clipped share); the first update of a round is on-policy
    clipped = [row["clip_ratio/region_mean"] for row in steps]
    assert all(clipped[i] == 0.0 for i in (0, 2, 4)) and any(clipped[i] > 0.0 for i in (1, 3, 5))
    assert all("num_tokens" in steps[i] for i in (0, 2, 4)) and not any("num_tokens" in steps[i] for i in (1, 3, 5))


def test_full_fine_tuning_on_a_gpu_outside_deepspeed_trains_fp32_weights():
    """A bf16 checkpoint loads in bf16; AdamW on bf16 weights loses lr-1e-6 updates. Full fine-tuning on a GPU
    without DeepSpeed therefore trains an fp32 copy; DeepSpeed (its own fp32 master weights), LoRA (fp32
    adapters) and the CPU (fp32 already) keep the checkpoint's dtype."""
    from rzero.engines.grpo import fp32_master_weights

    gpu = GRPOPhase(1, 4, 2, 1e-6, 0.0, 1.0, 1.0, 8, device="cuda")
    assert fp32_master_weights(gpu, {}) and fp32_master_weights(gpu, {"ACCELERATE_USE_DEEPSPEED": "false"})
    assert not fp32_master_weights(gpu, {"ACCELERATE_USE_DEEPSPEED": "true"})
    assert not fp32_master_weights(GRPOPhase(1, 4, 2, 1e-6, 0.0, 1.0, 1.0, 8, device="cuda", lora_rank=8), {})
    assert not fp32_master_weights(GRPOPhase(1, 4, 2, 1e-6, 0.0, 1.0, 1.0, 8), {})
