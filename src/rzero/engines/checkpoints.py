"""What a GRPO phase trained, saved whole, however it ran.

One process, several (DDP), DeepSpeed ZeRO-3 (each rank holds a shard of every tensor: `model.state_dict()`
there gives empty tensors, and `check_finite` passes on empty tensors): the weights are gathered through the
trainer's accelerator, 16-bit under ZeRO-3 (its config must set `zero3_save_16bit_model: true`; preflight
says so), into one state dict on rank 0. Rank 0 checks that every gathered tensor and every logged loss is
finite, merges LoRA adapters into the base weights (generation backends load plain checkpoints), and saves;
then every rank learns the verdict, so that a NaN phase fails on all of them and no rank waits for another.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from rzero.core.records import PhaseFailed
from rzero.engines import ranks


def check_finite(state: Mapping, log_history: list[dict], label: str) -> None:
    """Raise PhaseFailed, naming the first bad step or tensor, if a logged loss or a tensor of `state` (a
    state dict, or a model's named parameters as a dict) is NaN or infinite."""
    import torch

    bad_steps = [
        row.get("step") for row in log_history if isinstance(row.get("loss"), float) and not math.isfinite(row["loss"])
    ]
    bad_tensors = [name for name, tensor in state.items() if not torch.isfinite(tensor).all()]
    if bad_steps or bad_tensors:
        where = f"loss not finite from step {bad_steps[0]}" if bad_steps else f"parameter {bad_tensors[0]} not finite"
        raise PhaseFailed(
            f"{label}: {where}; the model was not saved. Lower the learning rate or check the rewards "
            "for NaN, then resume (--resume retries this stage)"
        )


def _merged(state: dict, model_dir: Path, lora_config):
    """A plain model of `model_dir`'s architecture holding `state` with its LoRA adapters merged."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), lora_config)
    model.load_state_dict(state)
    return model.merge_and_unload()


def save_trained(trainer, model_dir: Path, out: Path, lora_config, label: str) -> None:
    """Gather what `trainer` trained (every rank takes part), check it and save it to `out` on rank 0
    with the tokenizer; PhaseFailed on every rank when a loss or weight is not finite."""
    state = trainer.accelerator.get_state_dict(trainer.model_wrapped)  # the whole state on rank 0
    verdict, failure = None, None
    if ranks.is_main():
        try:
            state = {name: tensor.detach().cpu() for name, tensor in state.items()}
            check_finite(state, trainer.state.log_history, label)
            if lora_config is None:  # the trainer's own model object names the architecture; `state` the weights
                trainer.accelerator.unwrap_model(trainer.model).save_pretrained(out, state_dict=state)
            else:
                _merged(state, model_dir, lora_config).save_pretrained(out)
            trainer.processing_class.save_pretrained(out)
        except PhaseFailed as error:
            verdict = ("failed", str(error))
        except Exception as error:  # rank 0 could not save: the others must not wait for it
            verdict, failure = ("error", f"rank 0 could not save {out}: {type(error).__name__}: {error}"), error
    verdict = ranks.from_main(verdict)
    if failure is not None:
        raise failure
    if verdict is not None:
        raise PhaseFailed(verdict[1]) if verdict[0] == "failed" else RuntimeError(verdict[1])
