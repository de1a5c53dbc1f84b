"""The one place TRL is configured: a fresh `GRPOTrainer` for either role, from rzero's config.

Both roles train with GRPO on plain-text prompts (no chat template). One optimizer step per
generation round: the whole round (prompts x rollouts) is generated, scored by the reward function
in one call, and used for exactly one update, as in the reference recipe. On CPU the trainer runs
with `use_cpu=True`, fp32 and no gradient checkpointing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset


class PhaseFailed(RuntimeError):
    """A training phase produced unusable weights (NaN or infinite loss or parameters). The model is
    not saved, so the stage has no DONE marker and the previous checkpoint stays the latest one."""


def check_finite(model, log_history: list[dict], label: str) -> None:
    """Raise PhaseFailed, naming the first bad step, if a loss or any parameter is NaN or infinite."""
    import math

    import torch

    bad_steps = [
        row.get("step") for row in log_history if isinstance(row.get("loss"), float) and not math.isfinite(row["loss"])
    ]
    bad_params = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad_steps or bad_params:
        where = f"loss not finite from step {bad_steps[0]}" if bad_steps else f"parameter {bad_params[0]} not finite"
        raise PhaseFailed(
            f"{label}: {where}; the model was not saved. Lower the learning rate or check the rewards "
            "for NaN, then resume (--resume retries this stage)"
        )


@dataclass(frozen=True)
class GRPOPhase:
    """What one GRPO phase needs, in rzero's units."""

    optimizer_steps: int
    prompts_per_step: int
    rollouts_per_prompt: int
    learning_rate: float
    kl_coef: float
    temperature: float
    top_p: float
    max_new_tokens: int
    sequences_per_micro_batch: int = 0  # 0 = the whole round in one forward/backward pass
    seed: int = 0
    device: str = "cpu"
    lora_rank: int = 0  # > 0: LoRA adapters (alpha = 2 x rank) on every linear layer, merged after the phase


def phase_for(
    role_cfg, prompts_per_step: int, rollouts_per_prompt: int, seed: int, device: str, lora_rank: int = 0
) -> GRPOPhase:
    """The phase of a role config (`ChallengerConfig` or `SolverConfig`): both carry grpo_steps,
    learning_rate, kl_coef, temperature, top_p and max_new_tokens under the same names."""
    return GRPOPhase(
        optimizer_steps=role_cfg.grpo_steps,
        prompts_per_step=prompts_per_step,
        rollouts_per_prompt=rollouts_per_prompt,
        learning_rate=role_cfg.learning_rate,
        kl_coef=role_cfg.kl_coef,
        temperature=role_cfg.temperature,
        top_p=role_cfg.top_p,
        max_new_tokens=role_cfg.max_new_tokens,
        seed=seed,
        device=device,
        lora_rank=lora_rank,
    )


def prompt_dataset(prompts: Sequence[str], extra: dict[str, Sequence] | None = None) -> Dataset:
    """A dataset with a `prompt` column (and any extra columns, passed to the reward function)."""
    columns = {"prompt": list(prompts)}
    for name, values in (extra or {}).items():
        if len(values) != len(prompts):
            raise ValueError(f"column {name!r} has {len(values)} rows, prompts have {len(prompts)}")
        columns[name] = list(values)
    return Dataset.from_dict(columns)


def _progress_callback(label: str, keys: Sequence[str]):
    """A step bar (ETA included) whose postfix shows the latest values of `keys`, in place of the
    Trainer's default bar, which prints every log dictionary on its own line."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class PhaseProgress(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.bar = tqdm(total=state.max_steps, desc=label, unit="step", leave=False)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.bar is not None and logs:
                shown = {k.split("/")[-1]: f"{logs[k]:.3g}" for k in keys if isinstance(logs.get(k), float)}
                self.bar.set_postfix(shown, refresh=False)

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()

    return PhaseProgress()


def device_arguments(device: str, seed: int) -> dict:
    """Trainer arguments every rzero phase shares (GRPO here, SFT in `rzero.sft`): CPU runs in fp32
    without gradient checkpointing, GPUs in bf16; no checkpoints (rzero saves the model itself), no
    external loggers (rzero's metrics module does that), seeded data order."""
    on_cpu = device == "cpu"
    return {
        "use_cpu": on_cpu,
        "bf16": not on_cpu,
        "gradient_checkpointing": False,
        "report_to": [],
        "save_strategy": "no",
        "seed": seed,
        "data_seed": seed,
        "dataloader_num_workers": 0,
    }


def build_trainer(
    model,
    tokenizer,
    dataset: Dataset,
    reward_funcs: list[Callable],
    phase: GRPOPhase,
    output_dir: Path,
    reward_weights: list[float] | None = None,
    label: str = "GRPO",
    shown_metrics: Sequence[str] = ("reward", "kl"),
):
    """A fresh GRPOTrainer for one phase; call `.train()` on it. Its progress bar is labelled
    `label` and shows `shown_metrics` from the trainer's log."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOConfig, GRPOTrainer

    round_size = phase.prompts_per_step * phase.rollouts_per_prompt
    micro = phase.sequences_per_micro_batch or round_size
    if round_size % micro or micro % phase.rollouts_per_prompt:
        raise ValueError(
            f"sequences_per_micro_batch ({micro}) must divide prompts x rollouts ({round_size}) "
            f"and be a multiple of the rollouts per prompt ({phase.rollouts_per_prompt})"
        )
    args = GRPOConfig(
        output_dir=str(output_dir),
        max_steps=phase.optimizer_steps,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=round_size // micro,
        num_generations=phase.rollouts_per_prompt,
        learning_rate=phase.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        beta=phase.kl_coef,
        temperature=phase.temperature,
        top_p=phase.top_p,
        top_k=0,
        max_completion_length=phase.max_new_tokens,
        loss_type="grpo",
        scale_rewards="group",
        disable_dropout=True,
        logging_steps=1,
        shuffle_dataset=False,
        reward_weights=reward_weights,
        **device_arguments(phase.device, phase.seed),
    )
    peft_config = None
    if phase.lora_rank:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=phase.lora_rank, lora_alpha=2 * phase.lora_rank, target_modules="all-linear", task_type="CAUSAL_LM"
        )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)  # the default when transformers' logging is quiet
    trainer.add_callback(_progress_callback(label, shown_metrics))
    return trainer


def train_phase(
    model_dir: Path,
    dataset: Dataset | None,
    reward_funcs: list[Callable],
    phase: GRPOPhase,
    out_dir: Path,
    label: str = "GRPO",
    shown_metrics: Sequence[str] = ("reward", "kl"),
) -> Path:
    """Load the policy in `model_dir`, run one GRPO phase on `dataset` (none: no training), and
    save the result with its tokenizer to out_dir/model, which is returned. The trainer's per-step
    log (loss, KL, reward means and parts, lengths) goes to out_dir/train_log.jsonl."""
    import shutil

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rzero.rundir import write_jsonl

    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir).to(phase.device)
    if dataset is not None and phase.optimizer_steps > 0:
        trainer = build_trainer(
            model, tokenizer, dataset, reward_funcs, phase, out_dir / "trainer", None, label, shown_metrics
        )
        trainer.train()
        write_jsonl(out_dir / "train_log.jsonl", trainer.state.log_history)
        model = trainer.model
        if phase.lora_rank:  # generation backends (vLLM included) load plain checkpoints
            model = model.merge_and_unload()
        check_finite(model, trainer.state.log_history, label)
        shutil.rmtree(out_dir / "trainer", ignore_errors=True)  # save_strategy "no": nothing of value
    model.save_pretrained(out_dir / "model")
    tokenizer.save_pretrained(out_dir / "model")
    return out_dir / "model"
