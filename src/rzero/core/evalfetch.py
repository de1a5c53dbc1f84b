"""`rzero data fetch`: the paper's evaluation sets downloaded once from the Hugging Face Hub into the
layout `eval.data_dir` reads (`<dir>/<name>/test.jsonl`), so that GPU nodes without network evaluate
from files (HF_HUB_OFFLINE=1).

Each row is written as the Hub gives it (values made JSON), so `evalsets.load_benchmark(name, dir)`
poses the same questions with the same golds and solutions as the Hub rows would. Beside it,
`source.json` says where the file came from: the Hub id, configuration, split and the commit it was
read at, the rows and the rows without a usable gold, the file's sha256 and when it was fetched.
A set is written to a temporary file and renamed, so a failed download leaves every file as it was.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from rzero.core.evalsets import BENCHMARKS, HUB, gold_of, hub_offline
from rzero.core.rundir import atomic_write_json, atomic_write_text

SOURCE_FILE = "source.json"


class FetchError(Exception):
    """A fetch that cannot start: an unknown name, or HF_HUB_OFFLINE forbids the network."""


@dataclass
class Fetched:
    """How one set fared: `fetched` (written now), `kept` (already there, no --force) or `failed`."""

    name: str
    status: str
    path: Path
    source: dict = field(default_factory=dict)  # the manifest (source.json), when there is one
    error: str = ""


def check_fetch(names: list[str]) -> list[str]:
    """The sets to fetch (all ten when `names` is empty), or a FetchError saying why none can be."""
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise FetchError(f"unknown benchmark {unknown[0]!r} (known: {', '.join(BENCHMARKS)})")
    if hub_offline():
        raise FetchError(
            "fetching needs the network and HF_HUB_OFFLINE is set: run `rzero data fetch` on a machine with "
            "network (a login node), then point eval.data_dir at the folder on the offline nodes"
        )
    return list(dict.fromkeys(names)) or list(BENCHMARKS)


def _plain(value):
    """A Hub value as JSON can hold it: lists and dicts through, other objects (dates, ...) as text."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def hub_rows(name: str) -> tuple[list[dict], str | None]:
    """The rows of one set from the Hub, read at the commit the Hub names now (returned with them, so
    that the manifest says which commit the file holds)."""
    from datasets import load_dataset
    from huggingface_hub import HfApi

    repo, configuration, split = HUB[name]
    revision = HfApi().dataset_info(repo).sha
    rows = load_dataset(repo, configuration, split=split, revision=revision)
    return [_plain(dict(row)) for row in rows], revision


def write_set(name: str, rows: list[dict], revision: str | None, out_dir: Path) -> dict:
    """`<out_dir>/<name>/test.jsonl` and its `source.json`, each written whole and renamed into place."""
    folder = out_dir / name
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    atomic_write_text(folder / "test.jsonl", text)
    golds = [gold_of(name, row) for row in rows]
    repo, configuration, split = HUB[name]
    source = {
        "name": name,
        "hub_id": repo,
        "config": configuration,
        "split": split,
        "revision": revision,
        "rows": len(rows),
        "rows_without_gold": sum(1 for question, gold, _ in golds if not question or not gold),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_json(folder / SOURCE_FILE, source)
    return source


def read_source(folder: Path) -> dict:
    """A set's source.json, or {} where there is none (a file written by hand) or it does not parse."""
    try:
        return json.loads((folder / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def fetch_set(name: str, out_dir: str | Path, force: bool = False) -> Fetched:
    """One set into `out_dir` (`~` expanded): kept when its file exists and not `force`; a download
    that fails is reported, not raised, and leaves the folder as it was."""
    folder = Path(out_dir).expanduser() / name
    path = folder / "test.jsonl"
    if path.is_file() and not force:
        return Fetched(name, "kept", path, read_source(folder))
    try:
        rows, revision = hub_rows(name)
        if not rows:
            raise ValueError(f"{HUB[name][0]} split {HUB[name][2]} has no rows")
        source = write_set(name, rows, revision, Path(out_dir).expanduser())
    except Exception as error:  # any download or parse failure of this set: the others still go on
        why = " ".join(f"{type(error).__name__}: {error}".split())  # one line, however the library wrote it
        return Fetched(name, "failed", path, error=why if len(why) <= 300 else why[:297] + "...")
    return Fetched(name, "fetched", path, source)


def fetch_line(result: Fetched) -> str:
    """One line of the table `rzero data fetch` prints: name, status, rows, rows without gold, source."""
    if result.status == "failed":
        return f"{result.name:<14} failed   {result.error}"
    source = result.source
    if not source:
        return f"{result.name:<14} {result.status:<8} {'-':>6} {'-':>8}  (no {SOURCE_FILE}) {result.path}"
    where = source["hub_id"] + (f" ({source['config']})" if source.get("config") else "")
    revision = (source.get("revision") or "?")[:12]
    return (
        f"{result.name:<14} {result.status:<8} {source['rows']:>6} {source['rows_without_gold']:>8}  "
        f"{where} {source['split']} @{revision}  {result.path}"
    )
