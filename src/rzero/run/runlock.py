"""One `rzero run` per run directory: an exclusive `fcntl.flock` on RUN/.lock while the loop runs.

A second `rzero run` (with or without --resume) on a directory that a live process holds stops at
once with one line naming that process, before it writes anything there: it only opens the lock
file, asks for the lock and reads who holds it. The kernel drops a flock when the last descriptor of
its open file goes, so a process killed with SIGKILL leaves no stuck lock: the file stays, but a
file whose holder is dead blocks nothing. The holder writes its PID, host and command line into the
file just after it takes the lock, for the refusal message.

The stage processes that the loop starts (`rzero stage`, launch.mode subprocess or accelerate) do not
take the lock: they inherit the parent's descriptor (`inherited_fds`), so they share its lock, and a
stage that outlives a killed parent still keeps a second run out of the directory it is writing.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rzero.config.schema import ConfigError

LOCK_NAME = ".lock"
COMMAND_CHARS = 300  # a longer command line is cut in the message, which stays one line
_HELD: dict[Path, int] = {}  # run directory (resolved) -> the descriptor of its lock in this process


class RunDirBusy(ConfigError):
    """Another live process holds the lock of the run directory."""


def command_of(pid: int) -> str:
    """The command line of process `pid` from /proc/PID/cmdline, on one line ("" where unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    words = (part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return " ".join(words).replace("\n", " ")[:COMMAND_CHARS]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _record(path: Path) -> dict:
    """What the holder wrote into the lock file ({} when it is empty, being written or not ours)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else {}


def _openers(path: Path) -> list[int]:
    """The other processes of this machine that have `path` open (Linux /proc; [] where unreadable)."""
    target = str(path.resolve())
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        pid = int(fd_dir.parent.name)
        try:
            if pid != os.getpid() and any(os.readlink(fd) == target for fd in fd_dir.iterdir()):
                found.append(pid)
        except OSError:  # ended meanwhile, or another user's
            continue
    return found


def holder(path: Path, wait_s: float = 1.0) -> str:
    """Who holds the lock on `path`, in words: PID and command. The holder writes its record just
    after taking the lock, so a record that is missing or names a dead process is read again for up
    to `wait_s`; a dead recorded holder whose stage process still holds the lock names that process."""
    deadline = time.monotonic() + wait_s
    record = _record(path)
    while not (record and (record.get("host") != socket.gethostname() or _alive(record["pid"]))):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
        record = _record(path)
    pid, host = record.get("pid"), record.get("host")
    if record and host != socket.gethostname():
        return f"PID {pid} on host {host} ({record.get('command', '')})"
    if record and _alive(pid):
        return f"PID {pid} ({command_of(pid) or record.get('command', '')})"
    openers = _openers(path)
    if openers:
        started = f", started by PID {pid}, which has ended" if pid else ""
        return f"PID {openers[0]} ({command_of(openers[0])}){started}"
    return f"another process, PID {pid} by its record" if pid else "another process that has not recorded its PID"


def _write_record(fd: int) -> None:
    """Put this process's PID, host and command line into the lock file it has just locked, for the
    message of a refused second run."""
    pid = os.getpid()
    command = command_of(pid) or " ".join(sys.argv)[:COMMAND_CHARS]
    record = json.dumps({"pid": pid, "host": socket.gethostname(), "command": command}) + "\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, record.encode(), 0)


def _take(fd: int, root: Path, option: str) -> bool:
    """Ask for the lock without waiting: True when taken, False where the file system has none;
    `RunDirBusy` naming the holder when another live process has it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        who = holder(root / LOCK_NAME)
        raise RunDirBusy(
            f"{option} {root} is in use by {who}; wait for it to end or stop it, or choose another {option}"
        ) from None
    except OSError:  # ENOLCK, ENOSYS: e.g. a network file system mounted without locks
        return False
    return True


@contextmanager
def run_lock(root: str | Path, option: str = "--out") -> Iterator[bool]:
    """Hold RUN/.lock for the with-block; yields True, or False where the file system has no locks
    (then nothing stops a second run, and the caller says so). Raises `RunDirBusy` naming the holder
    when another live process holds it. Re-entrant within one process. `root` must exist."""
    root = Path(root)
    key = root.resolve()
    if key in _HELD:
        yield True
        return
    path = root / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children unless passed
    except OSError as error:
        raise ConfigError(f"{option} {root}: cannot open the lock file {path} ({error.strerror})") from None
    try:
        locked = _take(fd, root, option)
        if locked:
            _write_record(fd)
            _HELD[key] = fd
        try:
            yield locked
        finally:
            _HELD.pop(key, None)
    finally:
        os.close(fd)


def inherited_fds(root: str | Path) -> tuple[int, ...]:
    """The descriptor of the lock this process holds on `root`, for a stage process to inherit
    (`subprocess.run(pass_fds=...)`): () when it holds none."""
    fd = _HELD.get(Path(root).resolve())
    return () if fd is None else (fd,)
