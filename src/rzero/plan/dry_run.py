"""`rzero run --dry-run`: the plan of a run, before anything is loaded or written.

Per iteration: the stages in order, what each generates (sequences and at most how many new
tokens), how many GRPO steps and optimizer updates it takes, on which device; and rough memory needs from
the model's config.json. The token figures are upper bounds (every sequence at max_new_tokens); memory
is `rzero.plan.memory`'s one count (18 bytes per parameter in bf16 mixed precision, 20 in fp32 on CPU,
before activations), and on GPUs each phase's per-GPU estimate with the KV cache each vLLM share leaves.
"""

from __future__ import annotations

from pathlib import Path

from rzero.config.accelerate import read_accelerate
from rzero.config.devices import engine_devices, stage_devices
from rzero.config.schema import RunConfig
from rzero.plan.memory import USEFUL_CONCURRENT_SEQUENCES, decoder_shape, estimate, state_bytes


def parameter_count(model_dir: Path) -> int | None:
    """Parameters of a Llama/Qwen-style decoder from its config.json (None when it cannot be read)."""
    shape, _ = decoder_shape(model_dir)
    return shape.parameters if shape else None


def lora_parameter_count(model_dir: Path, rank: int) -> int | None:
    """Parameters of rank-`rank` adapters on every linear layer of the decoder (q, k, v, o, gate, up, down)."""
    shape, _ = decoder_shape(model_dir)
    return shape.lora_parameters(rank) if shape and rank else None


def _count(n: float) -> str:
    """A parameter count with enough precision at every scale: 1.2B, 3.2M, 41.5K, 512."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def describe_accelerate(path: str) -> str:
    """What an accelerate config does to the GRPO phases' memory, in words (from the file itself)."""
    try:
        setup = read_accelerate(path)
    except ValueError:
        return f"accelerate config {path} could not be read"
    kind, processes, machines, stage = setup.kind, setup.processes, setup.machines, setup.zero_stage
    where = f"{processes} processes on {machines} machine{'s' if machines > 1 else ''}"
    precision = f", {setup.mixed_precision} mixed precision" if setup.mixed_precision != "no" else ""
    if kind == "DEEPSPEED" and stage == 3:
        return f"weights, gradients and optimizer states sharded across {where} (DeepSpeed ZeRO-3){precision}"
    if kind == "DEEPSPEED":
        return f"optimizer states sharded across {where}, a full copy of the weights on each (ZeRO-{stage}){precision}"
    if kind == "FSDP":
        return f"sharded across {where} (FSDP){precision}"
    if kind == "NO" or processes == 1:
        return f"one process on one device, nothing sharded: the whole figure on one GPU{precision}"
    return f"data parallel across {where}: a full copy of the weights and optimizer on each ({kind}){precision}"


def _updates(n: int) -> str:
    return f"{n} optimizer update{'s' if n != 1 else ''}"


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GiB" if n_bytes >= 2**28 else f"{n_bytes / 2**20:.0f} MiB"


def describe(cfg: RunConfig, model_dir: Path) -> list[str]:
    """The lines that `--dry-run` prints."""
    ch, cur, so, ev = cfg.challenger, cfg.curriculum, cfg.solver, cfg.eval
    m = cfg.voting.votes_per_question
    device = cfg.model.device
    held = (
        f"{ev.problems or 'all'} held-out problems" if cfg.domain in ("arithmetic", "skills") or ev.heldout_file else ""
    )
    held += f" of {ev.heldout_file}" if ev.heldout_file else ""
    suites = f"benchmarks {ev.benchmarks}" + (f" (<= {ev.problems} problems each)" if ev.problems else "")
    heldout = " + ".join(filter(None, [held, suites if ev.benchmarks else ""])) or "nothing (set eval.benchmarks)"
    lines = [f"model {model_dir} on {device}; {cfg.iterations} iterations; domain {cfg.domain}; seed {cfg.seed}"]
    shape, _ = decoder_shape(model_dir)
    if shape:
        params, weight_bytes = shape.parameters, 2 if device != "cpu" else 4
        kl = cfg.solver.kl_coef > 0 or cfg.challenger.kl_coef > 0
        train = state_bytes(shape, cfg.model.lora_rank, kl, fp32=device == "cpu")
        adapters = shape.lora_parameters(cfg.model.lora_rank) if cfg.model.lora_rank else None
        lines.append(
            f"parameters {_count(params)}; inference {_gib(params * weight_bytes)}; GRPO training about "
            f"{_gib(train)} before activations"
            + (f" (LoRA: {_count(adapters)} trained parameters)" if adapters else "")
            + (f"; {describe_accelerate(cfg.launch.accelerate_config)}" if cfg.launch.mode == "accelerate" else "")
        )
    ch_rollouts = ch.prompts_per_step * ch.rollouts_per_prompt
    so_sequences = so.grpo_steps * so.questions_per_step * so.rollouts_per_question
    ch_updates = (ch.grpo_steps if ch.train else 0) * ch.updates_per_step
    lines += [
        f"iteration 0  evaluate   greedy on {heldout}, <= {ev.max_new_tokens} new tokens each",
        "each iteration k = 1..K:",
        f"  challenger GRPO {ch.grpo_steps if ch.train else 0} steps x {ch_rollouts} questions "
        f"(<= {ch.max_new_tokens} tokens), {_updates(ch.updates_per_step)} per step ({ch_updates} in all); "
        f"each distinct question voted {m}x by the frozen "
        f"Solver (T={cfg.voting.temperature}): <= {ch.grpo_steps * ch_rollouts * m if ch.train else 0} Solver "
        f"sequences, <= {ch.grpo_steps * ch_rollouts * m * so.max_new_tokens if ch.train else 0:,} tokens",
        f"  curriculum {cur.pool_questions} Challenger samples, then {m} votes per distinct "
        f"question: <= {cur.pool_questions * m} Solver sequences, "
        f"<= {cur.pool_questions * m * so.max_new_tokens:,} tokens; band {cur.band[0]:g} <= p_hat <= "
        f"{cur.band[1]:g}" + ("" if cur.band_filter else " (filter off)"),
        f"  solver     GRPO {so.grpo_steps} steps x {so.questions_per_step} questions x "
        f"{so.rollouts_per_question} rollouts = {so_sequences} sequences, "
        f"<= {so_sequences * so.max_new_tokens:,} tokens; {_updates(so.updates_per_step)} per step "
        f"({so.grpo_steps * so.updates_per_step} in all)",
        f"  GRPO loss  {cfg.grpo.loss_type}, clip ratio [1 - {cfg.grpo.clip_ratio_low:g}, 1 + "
        f"{cfg.grpo.clip_ratio_high:g}], dual-clip "
        + (f"{cfg.grpo.dual_clip_ratio:g}" if cfg.grpo.dual_clip_ratio else "off")
        + f", AdamW weight decay {cfg.grpo.weight_decay:g}",
        f"  evaluate   greedy on {heldout}"
        + (f", plus {ev.votes_per_question} samples each (mean@k, maj@k)" if ev.votes_per_question else ""),
    ]
    launch = {
        "inprocess": "launcher: in-process (one process, the stages in sequence)",
        "subprocess": "launcher: every stage as its own process (`rzero stage NAME --run DIR --iteration K`)",
        "accelerate": f"launcher: GRPO phases under `accelerate launch --config_file {cfg.launch.accelerate_config}`, "
        "the other stages as their own processes",
    }
    lines.append(launch[cfg.launch.mode])
    lines += _devices(cfg)
    if cfg.model.lora_rank:
        lines.append(f"LoRA rank {cfg.model.lora_rank} on every linear layer, merged into the saved checkpoints")
    return lines + memory_lines(cfg, model_dir)


def memory_lines(cfg: RunConfig, model_dir: Path) -> list[str]:
    """Each phase's per-GPU memory estimate against launch.gpu_memory_gib (GPU runs; rzero.plan.memory)."""
    if cfg.model.device == "cpu":
        return []
    shape, source = decoder_shape(model_dir)
    if shape is None:
        return [f"memory per GPU: not estimated, {source}"]
    gpu = cfg.launch.gpu_memory_gib
    lines = [
        f"memory per GPU of {gpu:g} GiB (launch.gpu_memory_gib: usable, as the driver reports it), from {source}; "
        "upper bounds, every sequence at its max_new_tokens (rzero/plan/memory.py says what is counted); "
        f"each vLLM share's KV cache must hold {USEFUL_CONCURRENT_SEQUENCES} max-length sequences at once:"
    ]
    for phase in estimate(cfg, shape):
        lines += phase.lines(gpu)
    return lines


def _devices(cfg: RunConfig) -> list[str]:
    """Where each part runs: stage processes, generation engine, servers, and the launch commands."""
    m, ch = cfg.model, cfg.challenger
    stage = "rzero stage NAME --run RUN --iteration K"
    grpo = f"accelerate launch --config_file {cfg.launch.accelerate_config} -m rzero.cli {stage[6:]}"
    lines = []
    if cfg.launch.mode != "inprocess":
        lines.append(f"  GRPO phases: {grpo if cfg.launch.mode == 'accelerate' else stage}; other stages: {stage}")
        if cfg.launch.train_devices:
            lines.append(f"  stage processes see CUDA_VISIBLE_DEVICES={cfg.launch.train_devices}")
        if ch.solver_server_devices:
            lines.append(f"  the Challenger phase trains on GPUs {stage_devices(cfg, 'challenger')} only")
    cpu = m.device == "cpu"
    kv = f", {m.vllm_kv_cache_gib:g} GiB KV cache per engine" if cpu else ""
    engine = f"vLLM (vllm.LLM on {'CPU' if cpu else 'GPU'}{kv})" if m.vllm else f"Hugging Face generate on {m.device}"
    devices = engine_devices(m, cfg.launch.train_devices) if cfg.launch.train_devices else [m.device]
    if len(devices) > 1:
        engine += f", one engine per GPU on {len(devices)} GPUs ({','.join(devices)}), prompts sharded in order"
    elif m.vllm and m.device == "cuda" and not cfg.launch.train_devices and m.vllm_engines != 1:
        engine += ", one engine per GPU the stage sees (model.vllm_engines), prompts sharded in order"
    lines.append(f"generation (votes, pools, evaluation): {engine}")
    if m.vllm and cpu:
        lines.append("GRPO rollouts: Hugging Face generate (TRL's vLLM rollouts are GPU-only: docs/multi-gpu.md)")
    elif m.vllm:
        lines.append(
            f"GRPO rollouts: TRL vLLM server mode, `trl vllm-serve` on GPUs {m.vllm_server_devices} per phase"
            if m.vllm_mode == "server"
            else "GRPO rollouts: TRL vLLM colocated with training"
        )
    if ch.solver_server_devices:
        where = "on CPU" if ch.solver_server_devices == "cpu" else f"on GPUs {ch.solver_server_devices}"
        lines.append(
            f"frozen Solver of the Challenger reward: a vLLM server of S(k-1) {where} "
            "(free port, health-checked, stopped after the phase)"
        )
    chat = "auto (the tokenizer's chat template where it has one)" if m.chat_template == "auto" else "never"
    lines.append(f"prompts: chat template {chat}")
    return lines
