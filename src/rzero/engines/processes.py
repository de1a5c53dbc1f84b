"""Child processes that clean up after themselves: a process that dies with its parent, a free port,
and a process group waited for until none of it is left. Only the standard library: the server
manager (`rzero.engines.remote`), the engine processes (`rzero.engines.sharding`) and TRL's weight-sync
port (`rzero.engines.grpo`) use these."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """Run in the server's process before it starts: the kernel sends it SIGTERM when the process that
    started it dies, even by SIGKILL, so a killed rzero leaves no server holding memory and a port
    (Linux prctl PR_SET_PDEATHSIG; the server then stops its own engine processes)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def group_alive(group: int) -> bool:
    """Whether any process of process group `group` is left (a zombie not yet reaped counts)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def reap_group(group: int, grace_s: float) -> None:
    """Wait until no process of `group` is left; SIGKILL the rest once `grace_s` has passed, then wait
    a little more (a killed orphan is reaped by init; where init reaps nothing, its zombie is harmless)."""
    for wait_s, kill in ((grace_s, True), (5.0, False)):
        deadline = time.time() + wait_s
        while group_alive(group) and time.time() < deadline:
            time.sleep(0.1)
        if not group_alive(group):
            return
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


def stop_group(process: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM to the whole process group that `process` leads (started with start_new_session), SIGKILL to
    whatever of it is left after `grace_s`; returns when no process of the group is left."""
    group = process.pid  # start_new_session: the group id is the leader's pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        process.wait()
    reap_group(group, grace_s)  # the leader is reaped: what is left are its orphans
