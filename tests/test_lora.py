"""LoRA (model.lora_rank > 0): a GRPO phase trains adapters and saves a merged plain checkpoint."""

from safetensors.torch import load_file

from rzero.engines.grpo import GRPOPhase, prompt_dataset, train_phase


def test_lora_phase_saves_a_merged_checkpoint_that_changed(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    def reward(prompts, completions, **_):  # longer is better: any policy change shows up
        return [float(len(c)) for c in completions]

    phase = GRPOPhase(
        rounds=2,
        prompts_per_step=2,
        rollouts_per_prompt=4,
        learning_rate=5e-2,
        kl_coef=0.0,
        temperature=1.0,
        top_p=1.0,
        max_new_tokens=8,
        lora_rank=4,
    )
    out = train_phase(tiny_model_dir, prompt_dataset(["Problem: 1+2\nSolution:\n"] * 4), [reward], phase, tmp_path)
    assert not (out / "adapter_config.json").exists()  # merged: a plain checkpoint for any backend
    before, after = load_file(str(tiny_model_dir / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert set(before) == set(after)
    changed = [k for k in before if not (before[k] == after[k]).all()]
    assert changed and all("proj" in k for k in changed)  # only the adapted linear layers moved
    AutoModelForCausalLM.from_pretrained(out)
