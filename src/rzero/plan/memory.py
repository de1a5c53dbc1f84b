"""Per-GPU memory of each phase of a run, estimated from the model's shape alone (`rzero run --dry-run`).

No weights are loaded: the decoder's widths come from its config.json, or for a Hub id or a folder
not yet downloaded, from the shapes of the models our recipes name (KNOWN_SHAPES). Every figure is an
upper bound of the usual kind, at every sequence's longest length:

- GRPO training (bf16 on GPUs, AdamW): weights 2 + gradients 2 + fp32 master weights, two moments
  12 bytes per trained parameter, sharded as the accelerate config says (ZeRO-1/2/3); the frozen
  reference model for the KL term, 2 bytes per parameter (PEFT's reference is the adapters switched off,
  no copy); activations with gradient checkpointing (each layer's input, plus one layer recomputed,
  about 34 bytes per token and hidden unit); the logits of a micro-batch in bf16, forward and gradient,
  plus one sequence in fp32; under ZeRO-3 the gathered output layer and two decoder layers.
- vLLM reserves a share of the GPU (its gpu_memory_utilization) whatever the model: TRL's colocated
  rollouts 0.25, a frozen Solver beside training 0.25, the curriculum's two engines 0.4 each, an
  evaluation engine 0.85 (0.4 beside the Challenger's), a server 0.85. The share must hold the weights.
- CUDA context and allocator slack: OVERHEAD_GIB per GPU.
- Loading, before a GRPO phase trains (`load_memory`): under ZeRO-3 with zero.Init each rank loads its
  shard; otherwise each rank loads a whole bf16 copy into host memory and onto its GPU. Its per-GPU peak
  counts in the verdict; its host memory per machine is shown beside it.

Sequence lengths: a Challenger rollout is its prompt (PROMPT_TOKENS) plus challenger.max_new_tokens; a
Solver rollout is a question and its template (QUESTION_TOKENS) plus solver.max_new_tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rzero.config.accelerate import read_accelerate
from rzero.config.devices import device_count, stage_devices
from rzero.config.schema import RunConfig
from rzero.engines.generation import COLOCATED_ROLLOUT_SHARE, SHARES

GIB = 2**30
OVERHEAD_GIB = 3.0
PROMPT_TOKENS = 256
QUESTION_TOKENS = 512


@dataclass(frozen=True)
class Decoder:
    """The widths of a Llama/Qwen-style decoder."""

    hidden: int
    layers: int
    vocab: int
    inter: int
    q_width: int
    kv_width: int
    tied: bool

    @property
    def layer_parameters(self) -> int:
        attention = self.hidden * (2 * self.q_width + 2 * self.kv_width)
        return attention + 3 * self.hidden * self.inter + 2 * self.hidden

    @property
    def parameters(self) -> int:
        return self.layers * self.layer_parameters + self.vocab * self.hidden * (1 if self.tied else 2) + self.hidden

    def lora_parameters(self, rank: int) -> int:
        """Rank-`rank` adapters on every linear layer (q, k, v, o, gate, up, down)."""
        h = self.hidden
        per_layer = 2 * (h + self.q_width) + 2 * (h + self.kv_width) + 3 * (h + self.inter)
        return self.layers * rank * per_layer


KNOWN_SHAPES = {  # from the models' config.json on the Hub
    "Qwen3-4B-Base": Decoder(2560, 36, 151936, 9728, 4096, 1024, tied=True),
    "Qwen3-8B-Base": Decoder(4096, 36, 151936, 12288, 4096, 1024, tied=False),
}


def decoder_shape(model_dir: str | Path) -> tuple[Decoder | None, str]:
    """The decoder's widths and where they came from: the folder's config.json, else KNOWN_SHAPES by the
    folder's (or Hub id's) last name; (None, why) when neither gives them."""
    config = Path(model_dir) / "config.json"
    try:
        c = json.loads(config.read_text())
        hidden, heads = c["hidden_size"], c.get("num_attention_heads", 1)
        head_dim = c.get("head_dim") or hidden // heads
        shape = Decoder(
            hidden=hidden,
            layers=c["num_hidden_layers"],
            vocab=c["vocab_size"],
            inter=c.get("intermediate_size", 4 * hidden),
            q_width=heads * head_dim,
            kv_width=c.get("num_key_value_heads", heads) * head_dim,
            tied=bool(c.get("tie_word_embeddings")),
        )
        return shape, str(config)
    except (OSError, KeyError, ValueError, ZeroDivisionError, TypeError, AttributeError):
        pass
    name = Path(str(model_dir)).name
    if name in KNOWN_SHAPES:
        return KNOWN_SHAPES[name], f"the published shape of {name} ({config} is not here yet)"
    return None, f"{config} cannot be read"


@dataclass(frozen=True)
class Sharding:
    """How the accelerate config spreads a GRPO phase: processes (GPUs), DeepSpeed ZeRO stage, whether the
    weights load sharded (ZeRO-3's zero3_init_flag: zero.Init), processes on one machine."""

    processes: int = 1
    zero_stage: int = 0
    sharded_load: bool = False
    per_machine: int = 1


def accelerate_sharding(path: str) -> Sharding:
    """Processes and ZeRO stage of an accelerate config file (one process when it cannot be read)."""
    try:
        setup = read_accelerate(path)
    except ValueError:
        return Sharding()
    return Sharding(setup.processes, setup.zero_stage, setup.zero_stage == 3 and setup.zero3_init, setup.per_machine)


def load_memory(shape: Decoder, sharding: Sharding) -> tuple[float, float]:
    """(bytes on each GPU, bytes of host memory on each machine) while the policy loads, before training:
    under ZeRO-3 with zero.Init each rank materialises only its shard of the bf16 weights; otherwise every
    rank loads a whole bf16 copy into host memory and moves it to its GPU (ZeRO-3 without zero.Init shards
    it only afterwards). The steady figures do not show this peak."""
    whole = 2 * shape.parameters
    if sharding.zero_stage == 3 and sharding.sharded_load:
        shard = whole / max(sharding.processes, 1)
        return shard, shard * sharding.per_machine
    return whole, whole * sharding.per_machine


@dataclass(frozen=True)
class PhaseMemory:
    """One phase's estimate on each GPU it uses."""

    phase: str
    gpus: int
    parts: tuple[tuple[str, float], ...]  # (what, bytes)
    load: tuple[float, float] | None = None  # (per GPU, host per machine) while the weights load (GRPO phases)

    @property
    def total(self) -> float:
        return sum(size for _, size in self.parts)

    def line(self, gpu_gib: float) -> str:
        peak = max(self.total, self.load[0] if self.load else 0.0)
        verdict = "fits" if peak <= gpu_gib * GIB else f"DOES NOT FIT {gpu_gib:g} GiB"
        parts = ", ".join(f"{what} {size / GIB:.1f}" for what, size in self.parts if size >= 0.05 * GIB)
        where = f"{self.gpus} GPU{'s' if self.gpus > 1 else ''}"
        line = f"  {self.phase:<22} {self.total / GIB:5.1f} GiB per GPU on {where} ({parts}): {verdict}"
        if self.load:
            line += (
                f"; loading {self.load[0] / GIB:.1f} GiB per GPU, {self.load[1] / GIB:.1f} GiB host memory per machine"
            )
        return line


def training_parts(shape: Decoder, sharding: Sharding, lora_rank: int, kl: bool, micro: int, tokens: int):
    """(what, bytes) of one GRPO training process: weights and optimizer states, reference model,
    activations and logits of one micro-batch of `micro` sequences of `tokens` tokens."""
    p, n, zero = shape.parameters, max(sharding.processes, 1), sharding.zero_stage
    if lora_rank:
        trained = shape.lora_parameters(lora_rank)
        frozen = 2 * p / (n if zero == 3 else 1)
        states = [("frozen weights", frozen), ("adapters+AdamW", 16 * trained / (n if zero else 1))]
    else:
        weights_and_grads = 2 * p / (n if zero == 3 else 1) + 2 * p / (n if zero >= 2 else 1)
        states = [("weights+grads", weights_and_grads), ("AdamW fp32", 12 * p / (n if zero else 1))]
    if kl and not lora_rank:
        states.append(("reference", 2 * p / (n if zero == 3 else 1)))
    if zero == 3:
        states.append(("ZeRO-3 gathered", 2 * (shape.vocab * shape.hidden + 2 * shape.layer_parameters)))
    token_count = micro * tokens
    activations = token_count * shape.hidden * (2 * shape.layers + 34)
    logits = token_count * shape.vocab * 2 * 2 + tokens * shape.vocab * 4
    return [*states, ("activations", activations), ("logits", logits)]


def _micro(prompts_per_step: int, rollouts: int, processes: int, sequences_per_micro_batch: int) -> int:
    return sequences_per_micro_batch or max(prompts_per_step * rollouts // max(processes, 1), 1)


def _gpus(devices: str, fallback: int) -> int:
    return device_count(devices) if devices else fallback


def training_phase(cfg: RunConfig, shape: Decoder, role: str) -> PhaseMemory:
    """A GRPO phase (role "challenger" or "solver") on each of its GPUs, with what shares them: TRL's
    colocated vLLM, and in the Challenger phase the frozen Solver's engine when it is not a server."""
    accelerate = cfg.launch.mode == "accelerate"
    sharding = accelerate_sharding(cfg.launch.accelerate_config) if accelerate else Sharding()
    devices = stage_devices(cfg, role)
    if accelerate and devices and devices != cfg.launch.train_devices:  # as rzero.run.launch.stage_command
        gpus, machines = _gpus(devices, 1), max(sharding.processes // sharding.per_machine, 1)
        sharding = Sharding(gpus * machines, sharding.zero_stage, sharding.sharded_load, gpus)
    r = cfg.challenger if role == "challenger" else cfg.solver
    if role == "challenger":
        prompts, rollouts, tokens = r.prompts_per_step, r.rollouts_per_prompt, PROMPT_TOKENS + r.max_new_tokens
    else:
        prompts, rollouts, tokens = r.questions_per_step, r.rollouts_per_question, QUESTION_TOKENS + r.max_new_tokens
    micro = _micro(prompts, rollouts, sharding.processes, r.sequences_per_micro_batch)
    parts = training_parts(shape, sharding, cfg.model.lora_rank, r.kl_coef > 0, micro, tokens)
    gpu = cfg.launch.gpu_memory_gib * GIB
    if cfg.model.vllm and cfg.model.vllm_mode == "colocate":
        parts.append(("TRL vLLM rollouts", COLOCATED_ROLLOUT_SHARE * gpu))
    if role == "challenger" and not cfg.challenger.solver_server_devices:
        solver = SHARES["beside_training"] * gpu if cfg.model.vllm else 2 * shape.parameters
        parts.append(("frozen Solver", solver))
    parts.append(("CUDA overhead", OVERHEAD_GIB * GIB))
    name = f"{role} GRPO (micro-batch {micro})"
    return PhaseMemory(name, max(sharding.processes, 1), tuple(parts), load_memory(shape, sharding))


def sampling_phase(cfg: RunConfig, shape: Decoder, phase: str, engines: int, share: str, gpus: int) -> PhaseMemory:
    """A stage that only generates: `engines` vLLM engines of `share` per GPU, or, without vLLM, as many
    bf16 copies of the weights with the KV cache of a batch of 256 sequences each."""
    gpu = cfg.launch.gpu_memory_gib * GIB
    tokens = QUESTION_TOKENS + max(cfg.solver.max_new_tokens, cfg.eval.max_new_tokens)
    if cfg.model.vllm:
        parts = [(f"{engines} vLLM engine{'s' if engines > 1 else ''}", engines * SHARES[share] * gpu)]
    else:
        kv_cache = 256 * tokens * shape.layers * 2 * shape.kv_width * 2
        parts = [("weights+KV cache", engines * (2 * shape.parameters + kv_cache))]
    return PhaseMemory(phase, gpus, (*parts, ("CUDA overhead", OVERHEAD_GIB * GIB)))


def estimate(cfg: RunConfig, shape: Decoder) -> list[PhaseMemory]:
    """Every phase of one iteration, in order, per GPU (GPU runs only: `model.device` cuda)."""
    stage_gpus = _gpus(cfg.launch.train_devices, 1)
    phases = []
    if cfg.challenger.solver_server_devices:
        devices = cfg.challenger.solver_server_devices
        phases.append(sampling_phase(cfg, shape, "frozen Solver server", 1, "server", _gpus(devices, 1)))
    if cfg.challenger.train:
        phases.append(training_phase(cfg, shape, "challenger"))
    phases.append(sampling_phase(cfg, shape, "curriculum", 2, "pair", stage_gpus))
    phases.append(training_phase(cfg, shape, "solver"))
    pair = bool(cfg.eval.challenger_samples)
    phases.append(sampling_phase(cfg, shape, "evaluate", 2 if pair else 1, "pair" if pair else "alone", stage_gpus))
    return phases


def weights_fit_engines(cfg: RunConfig, shape: Decoder) -> str | None:
    """Why the smallest vLLM share of the run cannot hold the bf16 weights (plus a tenth for the
    KV cache), or None."""
    if not cfg.model.vllm:
        return None
    smallest = COLOCATED_ROLLOUT_SHARE if cfg.model.vllm_mode == "colocate" else SHARES["pair"]
    room = smallest * cfg.launch.gpu_memory_gib * GIB
    if 2 * shape.parameters * 1.1 > room:
        return (
            f"the bf16 weights ({2 * shape.parameters / GIB:.1f} GiB) do not fit a vLLM share of {room / GIB:.1f} GiB"
        )
    return None
