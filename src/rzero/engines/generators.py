"""Which generator plays a role in a stage: vLLM with model.vllm (one engine, or one engine process per
GPU with the prompts sharded among them), else Hugging Face generate; the frozen Solver of the
Challenger reward is the vLLM server at a URL when one runs. Each stage's vLLM engines are stopped
when the stage's ExitStack closes, not left to garbage collection.

In a GRPO phase of several processes every rank has its own frozen Solver (unless one server serves them
all: challenger.solver_server_devices), on its own GPU: Hugging Face generate on cuda:LOCAL_RANK, or a vLLM
engine in a process that sees the rank's GPU alone (an engine started in the rank itself would take the
node's first visible GPU, every rank's engine on one GPU)."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

from rzero.config.schema import RunConfig
from rzero.core.sampling import Generator
from rzero.engines import ranks
from rzero.engines.generation import VLLM_MEMORY_SHARE, HFGenerator, VLLMGenerator
from rzero.engines.remote import OpenAIGenerator
from rzero.engines.sharding import EngineSpec, ProcessGenerator, sharded_engines, stage_engine_devices


def stage_generator(
    path: Path, cfg: RunConfig, seed_offset: int, label: str, engines: ExitStack, share: str = "alone"
) -> Generator:
    """The generator of one role in a stage: vLLM with model.vllm, else Hugging Face generate. On
    several GPUs (model.vllm_engines, `rzero.config.devices.engine_devices`), one vLLM engine process per GPU with
    the prompts sharded among them; the frozen Solver beside training stays one engine (training holds
    the GPUs). vLLM engines are stopped when `engines` closes (the end of the stage), not left to
    garbage collection."""
    seed = cfg.seed * 1000 + seed_offset
    if cfg.model.vllm:
        device = "cpu" if cfg.model.device == "cpu" else "cuda"
        memory = {"memory_share": VLLM_MEMORY_SHARE[share], "kv_cache_gib": cfg.model.vllm_kv_cache_gib}
        gpus = stage_engine_devices(cfg.model) if share != "beside_training" else []
        if len(gpus) > 1:  # each engine's memory share is of its own GPU
            generator = sharded_engines([EngineSpec("vllm", str(path), seed, gpu, **memory) for gpu in gpus])
        elif device == "cuda" and ranks.world_size() > 1:  # beside one rank's training: that rank's GPU alone
            gpu = ranks.rank_gpu(os.environ.get("CUDA_VISIBLE_DEVICES"))
            generator = ProcessGenerator(EngineSpec("vllm", str(path), seed, gpu, **memory), gpu)
        else:
            generator = VLLMGenerator(path, seed=seed, device=device, **memory)
        engines.callback(generator.close)
        return generator
    return HFGenerator.from_pretrained(path, device=ranks.rank_device(cfg.model.device), seed=seed, label=label)


def frozen_solver(path: Path, cfg: RunConfig, k: int, url: str, engines: ExitStack) -> Generator:
    """The Solver that answers inside the Challenger reward: the vLLM server at `url` that
    `rzero.run.servers.stage_servers` started (challenger.solver_server_devices), else a generator in this process."""
    if url:
        return OpenAIGenerator(url, "solver", seed=cfg.seed * 1000 + 4 * k + 1)
    return stage_generator(path, cfg, 4 * k + 1, f"iter {k} solver votes", engines, "beside_training")
