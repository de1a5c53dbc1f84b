"""The stages of one iteration as the loop runs them: inputs resolved from the run directory,
the stage modules called by name with named arguments, artifacts written, the DONE marker set.

Every input of a stage is derived from the run directory and the config alone (which Challenger and
Solver checkpoints are current, which curriculum to train on), so a stage runs the same in the loop's
process, in a subprocess (`rzero stage NAME --run DIR --iteration K`) or under `accelerate launch`,
and after a crash. The stage modules never import each other; this is the glue between them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

from rzero import challenger as challenger_stage
from rzero import curriculum as curriculum_stage
from rzero import evaluate as evaluate_stage
from rzero import solver as solver_stage
from rzero.config import RunConfig
from rzero.domains import Domain, get_domain, with_chat_template
from rzero.memory import VLLM_MEMORY_SHARE
from rzero.probe import load_probe, probe_figures
from rzero.records import (
    STAGES,
    ChallengerMetrics,
    CurriculumMetrics,
    CurriculumRow,
    EvaluateMetrics,
    SolverMetrics,
    StageMetrics,
)
from rzero.remote import SOLVER_URL_ENV, TRL_VLLM_URL_ENV
from rzero.rundir import RunDir, read_jsonl, write_jsonl


def build_domain(cfg: RunConfig) -> Domain:
    """The run's domain, its prompts rendered with the base model's chat template where it has one."""
    return with_chat_template(get_domain(cfg.domain), base_model(cfg), cfg.model.chat_template)


def _generator(path: Path, cfg: RunConfig, seed_offset: int, label: str, engines: ExitStack, share: str = "alone"):
    """The generator of one role in a stage: vLLM with model.vllm, else Hugging Face generate. On
    several GPUs (model.vllm_engines, `sharding.engine_devices`), one vLLM engine process per GPU with
    the prompts sharded among them; the frozen Solver beside training stays one engine (training holds
    the GPUs). vLLM engines are stopped when `engines` closes (the end of the stage), not left to
    garbage collection."""
    from rzero.generation import HFGenerator, VLLMGenerator
    from rzero.sharding import EngineSpec, sharded_engines, stage_engine_devices

    seed = cfg.seed * 1000 + seed_offset
    if cfg.model.vllm:
        device = "cpu" if cfg.model.device == "cpu" else "cuda"
        memory = {"memory_share": VLLM_MEMORY_SHARE[share], "kv_cache_gib": cfg.model.vllm_kv_cache_gib}
        gpus = stage_engine_devices(cfg.model) if share != "beside_training" else []
        if len(gpus) > 1:  # each engine's memory share is of its own GPU
            generator = sharded_engines([EngineSpec("vllm", str(path), seed, gpu, **memory) for gpu in gpus])
        else:
            generator = VLLMGenerator(path, seed=seed, device=device, **memory)
        engines.callback(generator.close)
        return generator
    return HFGenerator.from_pretrained(path, device=cfg.model.device, seed=seed, label=label)


def _frozen_solver(path: Path, cfg: RunConfig, k: int, url: str, engines: ExitStack):
    """The Solver that answers inside the Challenger reward: the vLLM server at `url` that
    `stage_servers` started (challenger.solver_server_devices), else a generator in this process."""
    if url:
        from rzero.remote import OpenAIGenerator

        return OpenAIGenerator(url, "solver", seed=cfg.seed * 1000 + 4 * k + 1)
    return _generator(path, cfg, 4 * k + 1, f"iter {k} solver votes", engines, "beside_training")


def run_challenger(
    cfg: RunConfig, domain: Domain, k: int, *, challenger: Path, solver: Path, folder: Path, urls: dict[str, str]
) -> ChallengerMetrics:
    """Paper step 1: C(k-1) -> C(k) by GRPO, rewarded through the frozen S(k-1)'s votes."""
    if not cfg.challenger.train:
        return ChallengerMetrics(trained=False)
    with ExitStack() as engines:
        records, metrics = challenger_stage.train_challenger(
            challenger,
            _frozen_solver(solver, cfg, k, urls.get(SOLVER_URL_ENV, ""), engines),
            domain,
            cfg.challenger,
            cfg.voting,
            folder,
            cfg.solver.max_new_tokens,
            cfg.seed + k,
            cfg.model,
            vllm_server_url=urls.get(TRL_VLLM_URL_ENV, ""),
        )
    write_jsonl(folder / "questions.jsonl", records)
    return metrics


def run_curriculum(
    cfg: RunConfig, domain: Domain, k: int, *, challenger: Path, solver: Path, folder: Path
) -> CurriculumMetrics:
    """Paper step 2: C(k) poses the pool, the pre-update S(k-1) votes on it, the band is kept."""
    with ExitStack() as engines:
        solver_votes = _generator(solver, cfg, 4 * k + 3, f"iter {k} pseudo-labels", engines, "pair")
        rows, kept, metrics = curriculum_stage.build_curriculum(
            _generator(challenger, cfg, 4 * k + 2, f"iter {k} question pool", engines, "pair"),
            solver_votes,
            domain,
            cfg.curriculum,
            cfg.voting,
            cfg.challenger.max_new_tokens,
            cfg.solver.max_new_tokens,
        )
        write_jsonl(folder / "pool.jsonl", [r.to_json() for r in rows])
        write_jsonl(folder / "curriculum.jsonl", [r.to_json() for r in kept])
        if cfg.eval.probe_file:  # evaluation only: the same votes on labelled questions, never a curriculum
            pairs = load_probe(cfg.eval.probe_file, cfg.eval.probe_questions)
            probe_rows = curriculum_stage.label_questions(
                solver_votes,
                domain,
                [q for q, _ in pairs],
                cfg.voting,
                cfg.curriculum.band_delta,
                cfg.solver.max_new_tokens,
            )
            for name, value in probe_figures(probe_rows, [a for _, a in pairs], domain.equivalent).items():
                setattr(metrics, name, value)
            write_jsonl(folder / "probe.jsonl", [r.to_json() for r in probe_rows])
    return metrics


def run_solver(
    cfg: RunConfig,
    domain: Domain,
    k: int,
    *,
    solver: Path,
    curriculum: list[CurriculumRow],
    folder: Path,
    urls: dict[str, str],
) -> SolverMetrics:
    """Paper step 3: S(k-1) -> S(k) by GRPO on the curriculum's questions and pseudo-labels (oracle
    fields stripped). An empty curriculum skips training: S(k) is S(k-1), and the metrics say why."""
    rows = curriculum_stage.solver_rows(curriculum, cfg.curriculum.labels)
    records, metrics = solver_stage.train_solver(
        solver,
        rows,
        domain,
        cfg.solver,
        folder,
        cfg.seed + k,
        cfg.model,
        vllm_server_url=urls.get(TRL_VLLM_URL_ENV, ""),
    )
    write_jsonl(folder / "rollouts.jsonl", records)
    return metrics


def run_evaluate(
    cfg: RunConfig,
    domain: Domain,
    k: int,
    *,
    solver: Path,
    challenger: Path,
    curriculum: list[CurriculumRow],
    folder: Path | None,
    metrics: EvaluateMetrics | None = None,
) -> EvaluateMetrics:
    """Paper step 4 (ours: the paper evaluates on benchmarks afterwards): S(k) on the held-out set and
    `eval.benchmarks`, with exact answers, evaluation only; with eval.challenger_samples, the question
    validity of C(k). `rzero eval` calls this too, with k = 0 and no curriculum."""
    pair = bool(cfg.eval.challenger_samples and challenger != solver)
    with ExitStack() as engines:
        generator = _generator(solver, cfg, 4 * k, f"iter {k} evaluate", engines, "pair" if pair else "alone")
        questioner = (
            _generator(challenger, cfg, 4 * k, f"iter {k} challenger validity", engines, "pair") if pair else None
        )
        return evaluate_stage.evaluate_model(
            generator,
            domain,
            cfg.eval,
            curriculum,
            folder,
            challenger=questioner,
            metrics=metrics,
            challenger_max_new_tokens=cfg.challenger.max_new_tokens,
        )


def base_model(cfg: RunConfig) -> Path:
    from rzero.generation import embedded_base_path

    return embedded_base_path() if cfg.model.path == "embedded" else Path(cfg.model.path)


def solver_before(run: RunDir, cfg: RunConfig, k: int) -> Path:
    """S(k-1): the Solver that iteration k starts from."""
    return solver_after(run, cfg, k - 1)


def solver_after(run: RunDir, cfg: RunConfig, k: int) -> Path:
    """S(k): the Solver iteration k ends with (the base model for k = 0)."""
    return run.stage(k, "solver") / "model" if k > 0 else base_model(cfg)


def challenger_after(run: RunDir, cfg: RunConfig, k: int) -> Path:
    """The latest trained Challenger of iterations 1..k (the base model when none was trained)."""
    for j in range(k, 0, -1):
        if run.is_done(j, "challenger") and ChallengerMetrics.from_json(run.done_info(j, "challenger")).trained:
            return run.stage(j, "challenger") / "model"
    return base_model(cfg)


def read_curriculum(run: RunDir, k: int) -> list[CurriculumRow]:
    """The curriculum that iteration k's Solver trains on (none in iteration 0)."""
    if k == 0:
        return []
    return [CurriculumRow.from_json(row) for row in read_jsonl(run.stage(k, "curriculum") / "curriculum.jsonl")]


def device_count(devices: str) -> int:
    """GPUs in a CUDA_VISIBLE_DEVICES list such as "4,5,6,7"."""
    return len(devices.split(","))


def server_log(run: RunDir, k: int, name: str, variable: str) -> Path:
    """The log file of the server that environment variable `variable` points stage `name` at."""
    return run.iteration(k) / f"{name}.{variable.lower()}.log"


def stage_logs(cfg: RunConfig, run: RunDir, k: int, name: str) -> list[Path]:
    """The files where stage `name` of iteration k writes its output other than the terminal: its own
    process's log (launch.mode subprocess or accelerate), and each server's it starts."""
    own = [run.iteration(k) / f"{name}.launch.log"] if cfg.launch.mode != "inprocess" else []
    return own + [server_log(run, k, name, variable) for variable in _server_specs(cfg, run, k, name)]


def _server_specs(cfg: RunConfig, run: RunDir, k: int, name: str) -> dict[str, tuple]:
    """{environment variable: (command of a port, devices)} of the servers stage `name`
    of iteration k needs: the frozen Solver's `vllm serve` for the Challenger phase
    (challenger.solver_server_devices), a `trl vllm-serve` of the phase's starting model for each
    GRPO phase (model.vllm_mode=server)."""
    from rzero.remote import trl_vllm_serve_argv, vllm_serve_argv

    specs = {}
    trains = name == "solver" or (name == "challenger" and cfg.challenger.train)
    if name == "challenger" and cfg.challenger.train and cfg.challenger.solver_server_devices:
        devices = cfg.challenger.solver_server_devices
        host = cfg.launch.server_host
        if devices == "cpu":  # the CPU form: no GPU visible, a KV cache of host memory
            command = partial(
                vllm_serve_argv, solver_before(run, cfg, k), host=host, cpu_kv_cache_gib=cfg.model.vllm_kv_cache_gib
            )
            devices = ""
        else:
            command = partial(vllm_serve_argv, solver_before(run, cfg, k), gpus=device_count(devices), host=host)
        specs[SOLVER_URL_ENV] = (command, devices)
    if trains and cfg.model.vllm and cfg.model.vllm_mode == "server":
        start = challenger_after(run, cfg, k - 1) if name == "challenger" else solver_before(run, cfg, k)
        devices = cfg.model.vllm_server_devices
        specs[TRL_VLLM_URL_ENV] = (partial(trl_vllm_serve_argv, start, gpus=device_count(devices)), devices)
    return specs


@contextmanager
def stage_servers(cfg: RunConfig, run: RunDir, k: int, name: str) -> Iterator[dict[str, str]]:
    """Start (on a free port, on their configured GPUs) and health-check the servers stage `name`
    needs, yield their URLs ({environment variable: URL}), and stop them when the stage ends. A URL
    already in the environment means a parent process started the server (`rzero.launch` passes its
    URLs to a stage process that way). With launch.server_host=0.0.0.0 (several nodes) the URL
    carries this node's host name."""
    import socket

    from rzero.remote import ManagedServer, free_port

    urls: dict[str, str] = {}
    with ExitStack() as stack:
        for variable, (command, devices) in _server_specs(cfg, run, k, name).items():
            if os.environ.get(variable):
                urls[variable] = os.environ[variable]
                continue
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # one server per rank would be wrong
                raise RuntimeError(f"{variable} is unset in a multi-process stage: launch stages with `rzero run`")
            port = free_port()
            log = server_log(run, k, name, variable)
            log.parent.mkdir(parents=True, exist_ok=True)
            env = {"CUDA_VISIBLE_DEVICES": devices}
            host = cfg.launch.server_host if variable == SOLVER_URL_ENV else "127.0.0.1"
            server = ManagedServer(command(port=port), port, env=env, log_file=log, host=host)
            stack.enter_context(server)
            urls[variable] = f"http://{socket.gethostname()}:{port}" if host == "0.0.0.0" else server.url
        yield urls


def run_stage(cfg: RunConfig, run: RunDir, domain: Domain, k: int, name: str) -> StageMetrics:
    """Run one stage in this process: its inputs resolved from the run directory, a clean folder, the
    stage called by name, the DONE marker (written last, with the stage's wall time)."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r} (stages: {', '.join(STAGES)})")
    curriculum = read_curriculum(run, k) if name in ("solver", "evaluate") else []
    folder = run.begin(k, name)
    started = time.time()
    metrics: StageMetrics
    solver, new_solver = solver_before(run, cfg, k), solver_after(run, cfg, k)  # S(k-1), S(k)
    challenger, new_challenger = challenger_after(run, cfg, k - 1), challenger_after(run, cfg, k)  # C(k-1), C(k)
    with stage_servers(cfg, run, k, name) as urls:
        if name == "challenger":
            metrics = run_challenger(cfg, domain, k, challenger=challenger, solver=solver, folder=folder, urls=urls)
        elif name == "curriculum":
            metrics = run_curriculum(cfg, domain, k, challenger=new_challenger, solver=solver, folder=folder)
        elif name == "solver":
            metrics = run_solver(cfg, domain, k, solver=solver, curriculum=curriculum, folder=folder, urls=urls)
        else:
            metrics = run_evaluate(
                cfg, domain, k, solver=new_solver, challenger=new_challenger, curriculum=curriculum, folder=folder
            )
    metrics.seconds = round(time.time() - started, 1)
    run.mark_done(k, name, metrics.to_json())
    return metrics
