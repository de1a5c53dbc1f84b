"""Which devices each stage, engine and server gets: pure functions of the configuration (and, for
`engine_devices`, of the GPUs a process sees). The launcher, the engines and the dry-run's plan and
memory estimate all ask here, so that what the plan says is what runs."""

from __future__ import annotations

from rzero.config.schema import ModelConfig, RunConfig


def device_count(devices: str) -> int:
    """GPUs in a CUDA_VISIBLE_DEVICES list such as "4,5,6,7"."""
    return len(devices.split(","))


def stage_devices(cfg: RunConfig, name: str) -> str:
    """CUDA_VISIBLE_DEVICES of a stage process: launch.train_devices, less the GPUs of the frozen
    Solver's server during the Challenger phase ("" = inherit)."""
    server = cfg.challenger.solver_server_devices.split(",") if cfg.challenger.solver_server_devices else []
    if name != "challenger" or not server:
        return cfg.launch.train_devices
    return ",".join(d for d in cfg.launch.train_devices.split(",") if d not in server)


def engine_devices(model: ModelConfig, visible: str | None, gpus: int = 0) -> list[str]:
    """The devices of a sampling stage's engines, one engine each: with model.vllm on model.device=cuda,
    the GPUs as CUDA_VISIBLE_DEVICES names them (`visible`, e.g. "4,5,6,7"; None or "" = unset, then
    the machine's `gpus` GPUs 0..gpus-1), the first model.vllm_engines of them (0 = all). Otherwise,
    or where that leaves one GPU, a single entry, model.device: one engine in the stage's own process
    (vLLM on CPU or one GPU, Hugging Face generate, model.device=cuda:N). Pure: the dry-run plan calls it
    with the stage's CUDA_VISIBLE_DEVICES; the number of engines is the length of the list."""
    if not model.vllm or model.device != "cuda" or model.vllm_engines == 1:
        return [model.device]
    ids = [d.strip() for d in visible.split(",") if d.strip()] if visible else [str(i) for i in range(gpus)]
    if model.vllm_engines:
        ids = ids[: model.vllm_engines]
    return ids if len(ids) > 1 else [model.device]
