"""The run directory: layout, atomic writes and completion markers, so that `--resume` skips done work.

    RUN/
      .lock                       held by the live `rzero run` (`runlock`): PID, host and command
      config.yaml                 the resolved configuration
      summary.json                per-iteration metrics (`records.RunSummary`), rewritten after every iteration
      metrics.jsonl               every stage's figures and trainer step, rebuilt after every stage
      tensorboard/                the same as TensorBoard events
      report/                     report.html and its plots (`rzero report`, also at the end of `rzero run`)
      iter_00/evaluate/           iteration 0 = the base model: results.jsonl, DONE
      iter_01/challenger/         model/ (HF checkpoint), questions.jsonl, train_log.jsonl, DONE
      iter_01/curriculum/         pool.jsonl, curriculum.jsonl (`records.CurriculumRow`), probe.jsonl*, DONE
      iter_01/solver/             model/, rollouts.jsonl, train_log.jsonl, DONE
      iter_01/evaluate/           results.jsonl (one row per held-out problem), DONE
      iter_01/<stage>.launch.log  output of a stage run as its own process (launch.mode subprocess, accelerate)*
      cluster/machineR.json       each node's heartbeat when GRPO phases run on several machines (`run.cluster`)*

    * only with eval.probe_file, or with launch.mode other than inprocess.

A stage is done when its DONE marker exists; the marker is written last, atomically, and holds the
stage's metrics (`records.ChallengerMetrics` and its siblings, as JSON). Anything a stage writes goes
through `atomic_write_text` or into the stage folder, which a resumed run clears before redoing the
stage, so a crash never leaves a half-written file that a later stage could mistake for a finished one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

MARKER = "DONE"
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line, read lazily; bad JSON names file and line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None


def read_jsonl(path: str | Path) -> list[dict]:
    return [row for _, row in iter_jsonl(path)]


def nearest_existing(path: Path) -> Path:
    """`path` if it exists, else its nearest existing parent ("." for a relative path with none): where
    a folder still to be made will be created, so what decides whether it can be."""
    return next((p for p in (path, *path.parents) if p.exists()), Path("."))


class RunDir:
    """Paths and markers of one run."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.json"

    def iteration(self, iteration: int) -> Path:
        """The folder of one iteration: its stage folders, and the launch and server logs."""
        return self.root / f"iter_{iteration:02d}"

    def stage(self, iteration: int, name: str) -> Path:
        return self.iteration(iteration) / name

    def is_done(self, iteration: int, name: str) -> bool:
        return (self.stage(iteration, name) / MARKER).is_file()

    def done_info(self, iteration: int, name: str) -> dict:
        return json.loads((self.stage(iteration, name) / MARKER).read_text())

    def begin(self, iteration: int, name: str) -> Path:
        """A clean folder for a stage that is about to run (leftovers of a crashed attempt removed)."""
        folder = self.stage(iteration, name)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        return folder

    def remove_temporaries(self) -> int:
        """Delete the temporary files of writes that a crash interrupted (never renamed into place)."""
        leftovers = [p for p in self.root.rglob(".*.tmp") if p.is_file()] if self.root.exists() else []
        for path in leftovers:
            path.unlink(missing_ok=True)
        return len(leftovers)

    def mark_done(self, iteration: int, name: str, info: dict) -> None:
        atomic_write_json(self.stage(iteration, name) / MARKER, info)
