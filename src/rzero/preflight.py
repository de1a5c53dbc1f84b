"""Checks of the machine and file system that a configuration alone cannot show, made before any
model is loaded; each failure is a `ConfigError` that names the field or file."""

from __future__ import annotations

from pathlib import Path

from rzero.config import ConfigError, RunConfig
from rzero.domains import load_problems
from rzero.evalsets import missing_benchmark_file


def preflight(cfg: RunConfig, out: str | Path) -> None:
    """Checks of the machine and file system that a config alone cannot show, made before any model
    is loaded: the model folder exists, the device is present, the output directory is writable."""
    check_inputs(cfg)
    check_output(out)


def check_inputs(cfg: RunConfig) -> None:
    """The model folder, device, vLLM, accelerate config, benchmark, probe and held-out files and the
    thread count of `cfg` (what `rzero eval` needs; `rzero run` also needs `check_output`)."""
    import os

    if cfg.model.path != "embedded":
        folder = Path(cfg.model.path)
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"model.path {folder} is not a Hugging Face model folder (no config.json); "
                "use a local folder (nothing is downloaded) or model.path=embedded"
            )
    if cfg.model.vllm:
        import importlib.util

        if cfg.model.device == "cpu":
            raise ConfigError("model.vllm=true needs a GPU: set model.device=cuda, or model.vllm=false on CPU")
        if importlib.util.find_spec("vllm") is None:
            raise ConfigError('model.vllm=true but vLLM is not installed: pip install -e ".[gpu]"')
    if cfg.model.device != "cpu":
        import torch

        present = (
            torch.cuda.is_available() if cfg.model.device.startswith("cuda") else torch.backends.mps.is_available()
        )
        if not present:
            raise ConfigError(
                f"model.device={cfg.model.device} but this machine has no such device; use model.device=cpu"
            )
        if cfg.model.device.startswith("cuda:") and int(cfg.model.device[5:]) >= torch.cuda.device_count():
            raise ConfigError(f"model.device={cfg.model.device}: only {torch.cuda.device_count()} CUDA devices")
    if cfg.launch.accelerate_config and not Path(cfg.launch.accelerate_config).is_file():
        raise ConfigError(f"launch.accelerate_config {cfg.launch.accelerate_config} does not exist")
    missing = missing_benchmark_file(cfg.eval.benchmarks, cfg.eval.data_dir)
    if missing:
        raise ConfigError(
            f"eval.benchmarks: {missing} (set eval.data_dir to the folder that holds <benchmark>/test.jsonl)"
        )
    if cfg.eval.probe_file and not Path(cfg.eval.probe_file).is_file():
        raise ConfigError(f"eval.probe_file {cfg.eval.probe_file} does not exist (a JSONL of question and answer)")
    if cfg.eval.heldout_file:
        if not Path(cfg.eval.heldout_file).is_file():
            raise ConfigError(
                f"eval.heldout_file {cfg.eval.heldout_file} does not exist (a JSONL of question, answer, difficulty)"
            )
        try:
            load_problems(cfg.eval.heldout_file)
        except ValueError as error:
            raise ConfigError(f"eval.heldout_file: {error}") from None
    if cfg.model.threads > (os.cpu_count() or 1) * 4:
        raise ConfigError(f"model.threads={cfg.model.threads} is far above the {os.cpu_count()} cores; use 0 (all)")


def check_output(out: str | Path) -> None:
    """The run directory `out` can be created and written to."""
    import tempfile

    out = Path(out)
    existing = next((p for p in (out, *out.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"--out {out}: {existing} is a file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise ConfigError(f"--out {out} is not writable ({error.strerror}); choose another directory") from None
