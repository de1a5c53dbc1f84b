"""Metrics of a run: namespaced keys, `metrics.jsonl`, TensorBoard, and Weights & Biases when configured.

Keys are `<namespace>/<name>` with the namespaces `challenger/`, `curriculum/`, `solver/` and `eval/`
(one per stage), and `<namespace>/train/<name>` for the per-step trainer logs of the two GRPO phases.

`metrics.jsonl` is rebuilt from the stages' DONE markers and trainer logs after every stage, so it is
complete and free of duplicates after any crash and resume. TensorBoard events and W&B points are
appended only when a stage actually runs (a resumed run does not repeat the points of skipped
stages). W&B is used when the `wandb` package is installed and `WANDB_PROJECT` is set; nothing in
rzero needs it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from rzero.core.records import STAGES
from rzero.core.rundir import RunDir, atomic_write_text, read_jsonl

NAMESPACE = {"evaluate": "eval", "challenger": "challenger", "curriculum": "curriculum", "solver": "solver"}


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def stage_scalars(stage: str, info: dict) -> dict[str, float]:
    """The numeric figures of a stage's DONE info under its namespace; nested dictionaries of numbers
    (accuracy by difficulty, per-benchmark figures) become `ns/name/key[/...]`."""

    def flatten(prefix: str, value, out: dict[str, float]) -> None:
        if _is_number(value) or isinstance(value, bool):
            out[prefix] = float(value)
        elif isinstance(value, dict):
            for key, inner in value.items():
                flatten(f"{prefix}/{key}", inner, out)

    scalars: dict[str, float] = {}
    for key, value in info.items():
        flatten(f"{NAMESPACE[stage]}/{key}", value, scalars)
    return scalars


def train_scalars(stage: str, log_row: dict) -> tuple[int, dict[str, float]] | None:
    """(step, scalars) of one trainer log row, keys as `ns/train/<name>` (the trainer's own `/` kept)."""
    step = log_row.get("step")
    if not isinstance(step, int):
        return None
    ns = NAMESPACE[stage]
    scalars = {}
    for key, value in log_row.items():
        if key in ("step", "epoch") or not _is_number(value):
            continue
        name = key.removeprefix("rewards/").removeprefix(f"{ns}/").replace("/mean", "").replace("/", "_")
        scalars[f"{ns}/train/{name}"] = float(value)
    return step, scalars


def metrics_rows(run: RunDir, iterations: int) -> list[dict]:
    """Every finished stage's figures (one row) and every trainer step (one row each), in run order."""
    rows = []
    for k in range(iterations + 1):
        for stage in STAGES:
            if not run.is_done(k, stage):
                continue
            rows.append({"iteration": k, "stage": stage, **stage_scalars(stage, run.done_info(k, stage))})
            log_file = run.stage(k, stage) / "train_log.jsonl"
            if log_file.exists():
                for log_row in read_jsonl(log_file):
                    parsed = train_scalars(stage, log_row)
                    if parsed:
                        rows.append({"iteration": k, "stage": stage, "step": parsed[0], **parsed[1]})
    return rows


def write_metrics_jsonl(run: RunDir, iterations: int) -> Path:
    path = run.root / "metrics.jsonl"
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in metrics_rows(run, iterations)))
    return path


class MetricsSink:
    """TensorBoard (always, under RUN/tensorboard) and W&B (when installed and WANDB_PROJECT is set).
    `global_step` of a stage's figures is its iteration; trainer step s of iteration k is logged at
    k * 1000 + s, so that the phases of consecutive iterations follow each other on one axis and a
    resumed run writes its points where an uninterrupted one would."""

    def __init__(self, root: Path, config: dict):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(root / "tensorboard"))
        self.wandb = None
        if os.environ.get("WANDB_PROJECT"):
            try:
                import wandb
            except ImportError:
                wandb = None
            if wandb is not None:
                self.wandb = wandb.init(project=os.environ["WANDB_PROJECT"], config=config, dir=str(root))

    def stage(self, iteration: int, stage: str, info: dict, train_log: list[dict] | None = None) -> None:
        scalars = stage_scalars(stage, info)
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, iteration)
        if self.wandb is not None:
            self.wandb.log({"iteration": iteration, **scalars})
        for row in train_log or []:
            parsed = train_scalars(stage, row)
            if parsed:
                step, scalars = parsed
                for key, value in scalars.items():
                    self.writer.add_scalar(key, value, iteration * 1000 + step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
        if self.wandb is not None:
            self.wandb.finish()
