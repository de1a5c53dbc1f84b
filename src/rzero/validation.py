"""The range and consistency checks of a `RunConfig` (what `load_config` runs last): each failure is a
`ConfigError` naming the field, and where two fields clash, both."""

from __future__ import annotations

import re
from typing import Any

from rzero.config import ConfigError, RunConfig

# Range checks: field path -> (predicate, what it must be)
_POSITIVE_INTS = [
    "iterations",
    "challenger.prompts_per_step",
    "challenger.rollouts_per_prompt",
    "challenger.max_new_tokens",
    "curriculum.pool_questions",
    "solver.questions_per_step",
    "solver.rollouts_per_question",
    "solver.max_new_tokens",
    "eval.max_new_tokens",
    "eval.probe_questions",
]
_NON_NEGATIVE = [
    "model.vllm_engines",
    "challenger.sequences_per_micro_batch",
    "solver.sequences_per_micro_batch",
    "challenger.grpo_steps",
    "solver.grpo_steps",
    "challenger.kl_coef",
    "solver.kl_coef",
    "challenger.temperature",
    "voting.temperature",
    "curriculum.temperature",
    "solver.temperature",
    "eval.temperature",
    "eval.votes_per_question",
    "eval.problems",
    "eval.challenger_samples",
    "challenger.penalty_lambda",
    "model.threads",
    "model.lora_rank",
    "challenger.learning_rate",
    "solver.learning_rate",
]
_PROBABILITIES = [
    "challenger.top_p",
    "curriculum.top_p",
    "solver.top_p",
]
_FRACTIONS = [  # 0 switches the trigger off (1 for max_pool_bleu and reward_saturation)
    "monitor.accuracy_drop",
    "monitor.max_pool_bleu",
    "monitor.min_distinct_fraction",
    "monitor.min_keep_fraction",
    "monitor.reward_saturation",
]


def _get(cfg: RunConfig, path: str) -> Any:
    value: Any = cfg
    for part in path.split("."):
        value = getattr(value, part)
    return value


def validate(cfg: RunConfig) -> RunConfig:
    """Range checks that types alone cannot express; the error names the field."""
    for path in _POSITIVE_INTS:
        if _get(cfg, path) < 1:
            raise ConfigError(f"{path} must be >= 1, got {_get(cfg, path)}")
    for path in _NON_NEGATIVE:
        if _get(cfg, path) < 0:
            raise ConfigError(f"{path} must be >= 0, got {_get(cfg, path)}")
    for path in _PROBABILITIES:
        if not 0 < _get(cfg, path) <= 1:
            raise ConfigError(f"{path} must be in (0, 1], got {_get(cfg, path)}")
    for path in _FRACTIONS:
        if not 0 <= _get(cfg, path) <= 1:
            raise ConfigError(f"{path} must be in [0, 1], got {_get(cfg, path)}")
    if not 0 < cfg.curriculum.band_delta <= 0.5:
        raise ConfigError(
            f"curriculum.band_delta must be in (0, 0.5], got {cfg.curriculum.band_delta} "
            "(0.25 is the paper's; 0.5 keeps everything, or set curriculum.band_filter=false)"
        )
    if cfg.voting.votes_per_question < 2:
        raise ConfigError(
            f"voting.votes_per_question must be >= 2 (a majority vote needs several answers; the paper uses 10), "
            f"got {cfg.voting.votes_per_question}"
        )
    votes, delta = cfg.voting.votes_per_question, cfg.curriculum.band_delta
    if cfg.curriculum.band_filter and not any(abs(k / votes - 0.5) <= delta + 1e-9 for k in range(1, votes + 1)):
        raise ConfigError(
            f"curriculum.band_delta={delta} with voting.votes_per_question={votes} keeps nothing: "
            f"no share k/{votes} is within {delta} of 1/2; raise band_delta or use an even number of votes"
        )
    if cfg.launch.mode == "accelerate" and not cfg.launch.accelerate_config:
        raise ConfigError("launch.accelerate_config must name an accelerate config file when launch.mode=accelerate")
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", cfg.model.device):
        raise ConfigError(f"model.device must be cpu, cuda, cuda:N or mps, got {cfg.model.device!r}")
    for name, value in (
        ("model.vllm_kv_cache_gib", cfg.model.vllm_kv_cache_gib),
        ("launch.gpu_memory_gib", cfg.launch.gpu_memory_gib),
    ):
        if not value > 0:
            raise ConfigError(f"{name} must be > 0, got {value}")
    if not cfg.challenger.bleu_tau > 0:
        raise ConfigError(f"challenger.bleu_tau must be > 0, got {cfg.challenger.bleu_tau}")
    if cfg.challenger.rollouts_per_prompt < 2 and cfg.challenger.train:
        raise ConfigError("challenger.rollouts_per_prompt must be >= 2: GRPO compares rollouts within a group")
    if cfg.solver.rollouts_per_question < 2:
        raise ConfigError("solver.rollouts_per_question must be >= 2: GRPO compares rollouts within a group")
    _validate_servers(cfg)
    _validate_batches_and_benchmarks(cfg)
    if cfg.curriculum.labels == "oracle" and cfg.domain != "arithmetic":
        raise ConfigError("curriculum.labels=oracle needs a domain with an oracle: domain=arithmetic")
    return cfg


def _validate_batches_and_benchmarks(cfg: RunConfig) -> None:
    """Micro-batches that split a GRPO round into whole groups; benchmark names that exist."""
    for role, steps, rollouts in (
        ("challenger", "prompts_per_step", "rollouts_per_prompt"),
        ("solver", "questions_per_step", "rollouts_per_question"),
    ):
        micro, group = _get(cfg, f"{role}.sequences_per_micro_batch"), _get(cfg, f"{role}.{rollouts}")
        if micro and (micro % group or (_get(cfg, f"{role}.{steps}") * group) % micro):
            raise ConfigError(
                f"{role}.sequences_per_micro_batch={micro} must be a multiple of {role}.{rollouts} ({group}) "
                f"and divide {role}.{steps} x {rollouts} ({_get(cfg, f'{role}.{steps}') * group})"
            )
    from rzero.evalsets import unknown_benchmark

    problem = unknown_benchmark(cfg.eval.benchmarks)
    if problem:
        raise ConfigError(f"eval.benchmarks: {problem}")


def _validate_servers(cfg: RunConfig) -> None:
    """GPU lists are CUDA_VISIBLE_DEVICES strings; servers need the GPU path they belong to."""
    lists = {"model.vllm_server_devices": "", "challenger.solver_server_devices": " or cpu", "launch.train_devices": ""}
    for path, also in lists.items():
        value = _get(cfg, path)
        if value and not re.fullmatch(r"\d+(,\d+)*" + ("|cpu" if also else ""), value):
            raise ConfigError(f"{path} must list GPU numbers like 0,1,2,3 (CUDA_VISIBLE_DEVICES){also}, got {value!r}")
    if cfg.model.vllm_mode == "server" and cfg.model.device == "cpu":
        raise ConfigError(
            "model.vllm_mode=server (TRL's vLLM server for GRPO rollouts) needs GPUs: TRL sends it the weights over "
            'NCCL; on CPU GRPO rollouts use transformers (docs/multi-gpu.md "vLLM on CPU")'
        )
    if cfg.model.vllm_mode == "server" and not (cfg.model.vllm and cfg.model.vllm_server_devices):
        raise ConfigError(
            "model.vllm_mode=server needs model.vllm=true and model.vllm_server_devices (the GPUs of the "
            "`trl vllm-serve` process rzero starts for each GRPO phase)"
        )
    server = cfg.challenger.solver_server_devices
    if server == "cpu" and cfg.model.device != "cpu":
        raise ConfigError("challenger.solver_server_devices=cpu serves the Solver on CPU: it needs model.device=cpu")
    if server == "cpu":
        return
    if server and cfg.model.device == "cpu":
        raise ConfigError(
            "challenger.solver_server_devices lists GPUs: it needs model.device=cuda (on CPU set it to cpu)"
        )
    if server and (cfg.launch.mode == "inprocess" or not cfg.launch.train_devices):
        raise ConfigError(
            "challenger.solver_server_devices needs launch.mode=subprocess or accelerate and launch.train_devices "
            "(all GPUs of the stage processes; the Challenger phase trains on those not serving the Solver)"
        )
    if server and not set(cfg.launch.train_devices.split(",")) - set(server.split(",")):
        raise ConfigError("challenger.solver_server_devices leaves no GPU of launch.train_devices to train on")
