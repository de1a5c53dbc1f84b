"""Run under `accelerate launch` with a DeepSpeed ZeRO-3 config (tests/test_launches.py): the policy loads
sharded (zero.Init, through `grpo_config` made first), one GRPO step trains it, and `save_trained` writes it
whole. Rank 0 writes what it saw to the JSON file named by argv[1]: its share of each loaded weight (its
elements beside the whole's), the saved and the original shapes, and whether the saved file equals the
consolidated 16-bit state tensor for tensor."""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from rzero.engines import ranks
from rzero.engines.checkpoints import save_trained
from rzero.engines.grpo import GRPOPhase, build_trainer, grpo_config, prompt_dataset
from rzero.run.inputs import embedded_base_path

out, device = Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "cpu"  # cpu, or cuda (scripts/gpu_smoke.sh)
ranks.start(device)
phase = GRPOPhase(1, 2, 4, 1e-3, 0.0, 1.0, 1.0, 8, seed=0, device=device)
args = grpo_config(phase, out / "trainer")  # before the weights: ZeRO-3 then loads them sharded
base = embedded_base_path()
model = AutoModelForCausalLM.from_pretrained(base)
loaded = {name: [p.numel(), int(getattr(p, "ds_numel", p.numel()))] for name, p in model.named_parameters()}
tokenizer = AutoTokenizer.from_pretrained(base, padding_side="left")


def length_reward(prompts, completions, **_):
    return [float(len(c)) for c in completions]


trainer = build_trainer(model, tokenizer, prompt_dataset(["Problem: 1+2"] * 2), [length_reward], phase, args)
trainer.train()
consolidated = trainer.model_wrapped._zero3_consolidated_16bit_state_dict()  # what the file must hold (rank 0)
save_trained(trainer, base, out / "model", None, "test GRPO")
if ranks.is_main():
    saved = load_file(out / "model" / "model.safetensors")
    original = load_file(base / "model.safetensors")
    report = {
        "world_size": ranks.world_size(),
        "loaded": loaded,
        "saved_shapes": {name: list(t.shape) for name, t in saved.items()},
        "original_shapes": {name: list(t.shape) for name, t in original.items()},
        "equal_to_consolidated": all(torch.equal(saved[name], consolidated[name].cpu()) for name in saved),
        "changed": sum(not torch.equal(saved[name], original[name]) for name in saved),
    }
    (out / "report.json").write_text(json.dumps(report))
ranks.barrier()
