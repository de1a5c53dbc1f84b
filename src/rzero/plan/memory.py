"""Per-GPU memory of each phase of a run, estimated from the model's shape alone (`rzero run --dry-run`).

No weights are loaded: the decoder's widths come from its config.json, or for a Hub id or a folder
not yet downloaded, from the shapes of the models our recipes name (KNOWN_SHAPES). Every figure is an
upper bound of the usual kind, at every sequence's longest length:

- GRPO training (bf16 on GPUs, AdamW): weights 2 + gradients 2 + fp32 master weights, two moments
  12 bytes per trained parameter, sharded as the accelerate config says (ZeRO-1/2/3); the frozen
  reference model for the KL term, 2 bytes per parameter (PEFT's reference is the adapters switched off,
  no copy): 18 bytes per parameter unsharded. On CPU (fp32, no master copy): 4 + 4 + 8, reference 4 = 20.
  `training_parts` is the one count; the dry-run's headline figure is its sum. Activations with gradient
  checkpointing (each layer's input, plus one layer recomputed, about 34 bytes per token and hidden unit);
  the logits of a micro-batch in bf16, forward and gradient, plus one sequence in fp32; under ZeRO-3 the
  gathered output layer and two decoder layers.
- vLLM reserves a share of the GPU (its gpu_memory_utilization) whatever the model: TRL's colocated
  rollouts model.vllm_rollout_share (0.25), a frozen Solver beside training 0.25, the curriculum's two
  engines 0.4 each, an evaluation engine 0.85 (0.4 beside the Challenger's), a server 0.85. Inside its
  share an engine holds the bf16 weights, VLLM_RESERVE_GIB for its own activations and CUDA graphs, and
  the KV cache: the rest, at 2 (K, V) x layers x KV width x 2 bytes per token. `EngineRoom` turns that
  into tokens and into concurrent sequences of the engine's longest length; below
  USEFUL_CONCURRENT_SEQUENCES the engine "DOES NOT FIT" (see there why).
- CUDA context and allocator slack: OVERHEAD_GIB per GPU. launch.gpu_memory_gib is the GPU's usable
  memory as torch sees it (an "80 GB" H100: 79.1 GiB; nvidia-smi shows 79.6), not its name plate.
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
from rzero.engines.generation import SHARES

GIB = 2**30
OVERHEAD_GIB = 3.0
PROMPT_TOKENS = 256
QUESTION_TOKENS = 512
VLLM_RESERVE_GIB = 1.5  # inside a vLLM share, beside weights and KV cache: its profiling peak and CUDA graphs
# A share whose KV cache holds fewer max-length sequences than this at once is called unusable: decoding
# reads every weight once per step whatever the batch, so below ~16 sequences a step costs nearly the
# same as at 16 while producing fewer tokens, and a GRPO round of hundreds of rollouts per GPU (the
# reference's Solver: 320 per GPU per step) runs as 20+ sequential waves. vLLM itself refuses to start
# below 1.
USEFUL_CONCURRENT_SEQUENCES = 16


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

    @property
    def kv_bytes_per_token(self) -> int:
        """bf16 keys and values of one token in every layer: what vLLM's KV cache holds per token."""
        return 2 * self.layers * self.kv_width * 2

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
class EngineRoom:
    """What one vLLM engine's share leaves for its KV cache, in tokens and in concurrent sequences of
    `sequence_tokens` (prompt plus max_new_tokens of what it generates)."""

    engine: str
    share_bytes: float
    weight_bytes: float
    kv_bytes_per_token: int
    sequence_tokens: int

    @property
    def kv_bytes(self) -> float:
        return max(self.share_bytes - self.weight_bytes - VLLM_RESERVE_GIB * GIB, 0.0)

    @property
    def kv_tokens(self) -> int:
        return int(self.kv_bytes // self.kv_bytes_per_token)

    @property
    def concurrent_sequences(self) -> int:
        return self.kv_tokens // self.sequence_tokens

    @property
    def fits(self) -> bool:
        return self.concurrent_sequences >= USEFUL_CONCURRENT_SEQUENCES

    def line(self) -> str:
        verdict = (
            f"fits (>= {USEFUL_CONCURRENT_SEQUENCES})"
            if self.fits
            else f"DOES NOT FIT (fewer than {USEFUL_CONCURRENT_SEQUENCES}: a share too small for a useful batch)"
        )
        return (
            f"    {self.engine}: share {self.share_bytes / GIB:.1f} GiB - weights {self.weight_bytes / GIB:.1f} - "
            f"vLLM's own {VLLM_RESERVE_GIB:g} = KV cache {self.kv_bytes / GIB:.1f} GiB = {self.kv_tokens:,} tokens = "
            f"{self.concurrent_sequences} concurrent sequences of {self.sequence_tokens:,} tokens: {verdict}"
        )


@dataclass(frozen=True)
class PhaseMemory:
    """One phase's estimate on each GPU it uses, with the room each of its vLLM engines leaves."""

    phase: str
    gpus: int
    parts: tuple[tuple[str, float], ...]  # (what, bytes)
    load: tuple[float, float] | None = None  # (per GPU, host per machine) while the weights load (GRPO phases)
    engines: tuple[EngineRoom, ...] = ()

    @property
    def total(self) -> float:
        return sum(size for _, size in self.parts)

    def fits(self, gpu_gib: float) -> bool:
        peak = max(self.total, self.load[0] if self.load else 0.0)
        return peak <= gpu_gib * GIB and all(room.fits for room in self.engines)

    def lines(self, gpu_gib: float) -> list[str]:
        """The phase's line, then one per vLLM engine."""
        return [self.line(gpu_gib), *(room.line() for room in self.engines)]

    def line(self, gpu_gib: float) -> str:
        peak = max(self.total, self.load[0] if self.load else 0.0)
        verdict = "fits" if peak <= gpu_gib * GIB else f"DOES NOT FIT {gpu_gib:g} GiB"
        if peak <= gpu_gib * GIB and not all(room.fits for room in self.engines):
            verdict = "DOES NOT FIT: a vLLM share leaves too little KV cache (below)"
        parts = ", ".join(f"{what} {size / GIB:.1f}" for what, size in self.parts if size >= 0.05 * GIB)
        where = f"{self.gpus} GPU{'s' if self.gpus > 1 else ''}"
        line = f"  {self.phase:<22} {self.total / GIB:5.1f} GiB per GPU on {where} ({parts}): {verdict}"
        if self.load:
            line += (
                f"; loading {self.load[0] / GIB:.1f} GiB per GPU, {self.load[1] / GIB:.1f} GiB host memory per machine"
            )
        return line


def training_parts(
    shape: Decoder, sharding: Sharding, lora_rank: int, kl: bool, micro: int, tokens: int, fp32: bool = False
):
    """(what, bytes) of one GRPO training process: weights and optimizer states, reference model,
    activations and logits of one micro-batch of `micro` sequences of `tokens` tokens. bf16 mixed precision
    (GPUs), or `fp32` (CPU: no master copy, 4-byte weights, gradients and reference)."""
    p, n, zero = shape.parameters, max(sharding.processes, 1), sharding.zero_stage
    weight = 4 if fp32 else 2
    if lora_rank:
        trained = shape.lora_parameters(lora_rank)
        frozen = weight * p / (n if zero == 3 else 1)
        states = [("frozen weights", frozen), ("adapters+AdamW", 16 * trained / (n if zero else 1))]
    else:
        weights_and_grads = weight * p / (n if zero == 3 else 1) + weight * p / (n if zero >= 2 else 1)
        optimizer = ("AdamW fp32", 8 * p / (n if zero else 1)) if fp32 else ("AdamW fp32", 12 * p / (n if zero else 1))
        states = [("weights+grads", weights_and_grads), optimizer]
    if kl and not lora_rank:
        states.append(("reference", weight * p / (n if zero == 3 else 1)))
    if zero == 3:
        states.append(("ZeRO-3 gathered", 2 * (shape.vocab * shape.hidden + 2 * shape.layer_parameters)))
    token_count = micro * tokens
    activations = token_count * shape.hidden * (2 * shape.layers + 34)
    logits = token_count * shape.vocab * 2 * 2 + tokens * shape.vocab * 4 if micro else 0
    return [*states, ("activations", activations), ("logits", logits)]


def state_bytes(shape: Decoder, lora_rank: int, kl: bool, fp32: bool) -> float:
    """Weights, gradients, optimizer states and reference of one unsharded GRPO process, before
    activations: the sum of `training_parts` without a micro-batch (the dry-run's headline figure)."""
    return sum(size for _, size in training_parts(shape, Sharding(), lora_rank, kl, 0, 0, fp32))


def _micro(prompts_per_update: int, rollouts: int, processes: int, sequences_per_micro_batch: int) -> int:
    return sequences_per_micro_batch or max(prompts_per_update * rollouts // max(processes, 1), 1)


def _gpus(devices: str, fallback: int) -> int:
    return device_count(devices) if devices else fallback


def engine_room(cfg: RunConfig, shape: Decoder, engine: str, share: float, sequence_tokens: int) -> EngineRoom:
    """The room of one vLLM engine holding `share` of a GPU of launch.gpu_memory_gib."""
    share_bytes = share * cfg.launch.gpu_memory_gib * GIB
    return EngineRoom(engine, share_bytes, 2 * shape.parameters, shape.kv_bytes_per_token, sequence_tokens)


def _lengths(cfg: RunConfig) -> dict[str, int]:
    """Longest sequence, prompt included, of each thing rzero generates."""
    return {
        "question": PROMPT_TOKENS + cfg.challenger.max_new_tokens,
        "answer": QUESTION_TOKENS + cfg.solver.max_new_tokens,
        "evaluation": QUESTION_TOKENS + cfg.eval.max_new_tokens,
    }


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
    lengths = _lengths(cfg)
    if role == "challenger":
        prompts, rollouts, tokens = r.prompts_per_step, r.rollouts_per_prompt, lengths["question"]
    else:
        prompts, rollouts, tokens = r.questions_per_step, r.rollouts_per_question, lengths["answer"]
    micro = _micro(prompts // r.updates_per_step, rollouts, sharding.processes, r.sequences_per_micro_batch)
    parts = training_parts(shape, sharding, cfg.model.lora_rank, r.kl_coef > 0, micro, tokens)
    gpu, rooms = cfg.launch.gpu_memory_gib * GIB, []
    if cfg.model.vllm and cfg.model.vllm_mode == "colocate":
        parts.append(("TRL vLLM rollouts", cfg.model.vllm_rollout_share * gpu))
        rooms.append(engine_room(cfg, shape, "TRL vLLM rollouts", cfg.model.vllm_rollout_share, tokens))
    if role == "challenger" and not cfg.challenger.solver_server_devices:
        solver = SHARES["beside_training"] * gpu if cfg.model.vllm else 2 * shape.parameters
        parts.append(("frozen Solver", solver))
        if cfg.model.vllm:
            rooms.append(engine_room(cfg, shape, "frozen Solver", SHARES["beside_training"], lengths["answer"]))
    parts.append(("CUDA overhead", OVERHEAD_GIB * GIB))
    name = f"{role} GRPO (micro-batch {micro})"
    return PhaseMemory(name, max(sharding.processes, 1), tuple(parts), load_memory(shape, sharding), tuple(rooms))


def sampling_phase(cfg: RunConfig, shape: Decoder, phase: str, engines: dict[str, int], share: str, gpus: int):
    """A stage that only generates: one vLLM engine of `share` per GPU for each of `engines` (what it
    generates -> its longest sequence), or, without vLLM, as many bf16 copies of the weights with the KV
    cache of a batch of 256 sequences each."""
    gpu = cfg.launch.gpu_memory_gib * GIB
    tokens = max(engines.values())
    count = len(engines)
    if cfg.model.vllm:
        parts = [(f"{count} vLLM engine{'s' if count > 1 else ''}", count * SHARES[share] * gpu)]
        rooms = tuple(engine_room(cfg, shape, f"vLLM {name}", SHARES[share], n) for name, n in engines.items())
    else:
        kv_cache = 256 * tokens * shape.kv_bytes_per_token
        parts, rooms = [("weights+KV cache", count * (2 * shape.parameters + kv_cache))], ()
    return PhaseMemory(phase, gpus, (*parts, ("CUDA overhead", OVERHEAD_GIB * GIB)), engines=rooms)


def estimate(cfg: RunConfig, shape: Decoder) -> list[PhaseMemory]:
    """Every phase of one iteration, in order, per GPU (GPU runs only: `model.device` cuda)."""
    stage_gpus, lengths = _gpus(cfg.launch.train_devices, 1), _lengths(cfg)
    phases = []
    if cfg.challenger.solver_server_devices:
        devices = cfg.challenger.solver_server_devices
        server = {"frozen Solver server": lengths["answer"]}
        phases.append(sampling_phase(cfg, shape, "frozen Solver server", server, "server", _gpus(devices, 1)))
    if cfg.challenger.train:
        phases.append(training_phase(cfg, shape, "challenger"))
    pool = {"Challenger (pool)": lengths["question"], "Solver (votes)": lengths["answer"]}
    phases.append(sampling_phase(cfg, shape, "curriculum", pool, "pair", stage_gpus))
    phases.append(training_phase(cfg, shape, "solver"))
    evaluation = {"Solver (evaluation)": lengths["evaluation"]}
    if cfg.eval.challenger_samples:
        evaluation["Challenger (samples)"] = lengths["question"]
    share = "pair" if cfg.eval.challenger_samples else "alone"
    phases.append(sampling_phase(cfg, shape, "evaluate", evaluation, share, stage_gpus))
    return phases
