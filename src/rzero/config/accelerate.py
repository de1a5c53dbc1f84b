"""The accelerate config file of launch.mode=accelerate, read once: how the GRPO phases spread over
processes and machines. The dry-run's plan and memory estimate, the preflight checks and node 0's
cluster logic all read it here (`read_accelerate`), so that they agree on what the file says."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

PLACEHOLDER_ADDRESS = "NODE0_ADDRESS"  # what the shipped multi-node config says until node 0's address is given


@dataclass(frozen=True)
class AccelerateSetup:
    """What rzero needs from an accelerate config file (accelerate's own names and defaults)."""

    kind: str = "NO"  # distributed_type: NO, MULTI_GPU, DEEPSPEED, FSDP, ...
    processes: int = 1  # num_processes, over all machines
    machines: int = 1  # num_machines
    zero_stage: int = 0  # DeepSpeed's ZeRO stage (0 without DeepSpeed)
    zero3_init: bool = False  # zero3_init_flag: the weights load sharded (zero.Init)
    zero3_save_16bit: bool = False  # zero3_save_16bit_model: the sharded weights can be gathered to save
    multinode_launcher: str = "pdsh"  # deepspeed_multinode_launcher
    main_process_ip: str = ""
    mixed_precision: str = "no"
    cpu: bool = False  # use_cpu

    @property
    def per_machine(self) -> int:
        return max(self.processes // max(self.machines, 1), 1)


def read_accelerate(path: str | Path) -> AccelerateSetup:
    """The setup an accelerate config file describes; ValueError naming the file when it cannot be read."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
        deepspeed = data.get("deepspeed_config") or {}
        kind = str(data.get("distributed_type", "NO")).upper()
        return AccelerateSetup(
            kind=kind,
            processes=int(data.get("num_processes", 1)),
            machines=int(data.get("num_machines", 1)),
            zero_stage=int(deepspeed.get("zero_stage", 0)) if kind == "DEEPSPEED" else 0,
            zero3_init=bool(deepspeed.get("zero3_init_flag", False)),
            zero3_save_16bit=bool(deepspeed.get("zero3_save_16bit_model", False)),
            multinode_launcher=str(deepspeed.get("deepspeed_multinode_launcher", "pdsh")),
            main_process_ip=str(data.get("main_process_ip") or ""),
            mixed_precision=str(data.get("mixed_precision", "no")),
            cpu=bool(data.get("use_cpu", False)),
        )
    except (OSError, yaml.YAMLError, AttributeError, TypeError, ValueError) as error:
        raise ValueError(f"accelerate config {path} cannot be read ({type(error).__name__}: {error})") from None
