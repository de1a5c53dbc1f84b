"""The processes of one stage: which one this is, and what they share.

A GRPO phase under `accelerate launch` runs as several processes (ranks), each the whole `rzero stage`
command. One of them, global rank 0, prepares the stage folder and writes what the stage records; every
rank's rollouts reach it by `gather`. The launcher says which rank a process is in its environment
(RANK, LOCAL_RANK, WORLD_SIZE, as torchrun and DeepSpeed's launcher set them); `start` opens the process
group (accelerate's PartialState: gloo on CPU, NCCL on GPUs, DeepSpeed's when it is DeepSpeed's launch)
before anything loads, so that ranks can meet before the trainer exists, and the trainer joins the same
group. One process alone: every function here is a no-op and the process is rank 0.
"""

from __future__ import annotations

import os
from typing import Any


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """Global rank: 0..world_size-1 across every node."""
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """Rank on this node: which of its GPUs this process takes."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def start(device: str) -> None:
    """Open the process group of a multi-process stage (no-op for one process), on `device`'s kind."""
    if world_size() > 1:
        from accelerate import PartialState

        PartialState(cpu=device == "cpu")


def finish() -> None:
    """Close the process group once every rank is done (no-op for one process). A rank that exits with the
    group still open leaves gloo's or DeepSpeed's threads to the interpreter's exit, where one was seen to
    abort the process ("terminate called without an active exception", exit -6) after the stage had
    finished and written DONE."""
    dist = _group()
    if dist is not None:
        dist.barrier()
        dist.destroy_process_group()


def _group():
    import torch.distributed as dist

    return dist if world_size() > 1 and dist.is_available() and dist.is_initialized() else None


def barrier() -> None:
    """Wait until every rank is here."""
    dist = _group()
    if dist is not None:
        dist.barrier()


def gather(values: list) -> tuple[list, int]:
    """Every rank's `values` concatenated in rank order (on every rank), and where this rank's start."""
    dist = _group()
    if dist is None:
        return list(values), 0
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, list(values))
    offset = sum(len(part) for part in parts[: dist.get_rank()])
    return [value for part in parts for value in part], offset


def gather_rounds(records: list[dict]) -> list[dict]:
    """Every rank's records of a GRPO phase (one per rollout, each with the "step" of its reward call), on
    every rank: each prompt x rollout of a round once, round by round, in rank order within a round."""
    everyone, _ = gather(records)
    return sorted(everyone, key=lambda record: record["step"])


def from_main(value: Any) -> Any:
    """Rank 0's `value`, on every rank (what rank 0 decided, e.g. whether a phase failed)."""
    dist = _group()
    if dist is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def rank_device(device: str) -> str:
    """The device of this rank: "cuda" is the rank's own GPU, cuda:LOCAL_RANK, when several processes
    share a node (every rank on cuda:0 would load every copy there); anything else as it is."""
    return f"cuda:{local_rank()}" if device == "cuda" and world_size() > 1 else device


def rank_gpu(visible: str | None) -> str:
    """This rank's GPU as CUDA_VISIBLE_DEVICES names it (`visible`, e.g. "4,5,6,7"; None or "" = all),
    for an engine process that must see that GPU alone."""
    ids = [d.strip() for d in visible.split(",") if d.strip()] if visible else []
    return ids[local_rank()] if local_rank() < len(ids) else str(local_rank())
