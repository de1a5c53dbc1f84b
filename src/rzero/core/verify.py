"""Symbolic answer checks (math-verify) in worker processes with a hard per-check timeout.

Graders built on sympy can hang or crash on adversarial model output, and math-verify's own timeouts
use signals, which fail off the main thread (a reward function runs wherever the trainer calls it).
So every check runs in a worker process: the caller waits at most `timeout_s` for the verdict, and
a worker that hangs is killed and replaced, a worker that dies is replaced; either way the verdict
is "not equivalent". math-verify's own signal timeouts stay on inside the workers (they run on the
worker's main thread), as a first line. Callable from any thread; verdicts and parsed answers are
cached.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing as mp
import queue
import threading
from functools import lru_cache


@lru_cache(maxsize=65536)
def _parse(text: str):
    from math_verify import parse

    wrapped = text if "$" in text or "\\boxed" in text else f"${text}$"
    return parse(wrapped) or parse(text)


def _verify_in_process(gold: str, predicted: str) -> bool:
    from math_verify import verify

    gold_parsed, predicted_parsed = _parse(gold), _parse(predicted)
    if not gold_parsed or not predicted_parsed:
        return False
    return bool(verify(gold_parsed, predicted_parsed))


LOG_MESSAGE_CHARS = 300  # math-verify logs a timed-out parse with the whole model output (200 KB seen)


def capped_log_record(record: logging.LogRecord) -> bool:
    """A logging filter: a message longer than LOG_MESSAGE_CHARS keeps its head and says how long it was."""
    message = record.getMessage()
    if len(message) > LOG_MESSAGE_CHARS:
        record.msg, record.args = f"{message[:LOG_MESSAGE_CHARS]}... [{len(message)} characters in all]", ()
    return True


def cap_math_verify_logs() -> None:
    """Put `capped_log_record` on every math-verify logger (filters are per logger, not inherited)."""
    import math_verify  # noqa: F401  (its modules create their loggers on import)

    names = [name for name in logging.root.manager.loggerDict if name.split(".")[0] == "math_verify"]
    for name in ["math_verify", *names]:
        logger = logging.getLogger(name)
        if capped_log_record not in logger.filters:
            logger.addFilter(capped_log_record)


STARTUP_TIMEOUT_S = 120.0  # a new worker imports math-verify and sympy first; not charged to any check


def _worker_main(conn) -> None:  # runs in the worker process
    cap_math_verify_logs()  # imports math-verify: the slow imports happen before the worker says it is ready
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            result = _verify_in_process(*job)
        except Exception:  # a grader error on untrusted text is a "no", not a crash
            result = False
        conn.send(result)


class _Worker:
    def __init__(self, ctx) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.ready = False

    def poll_ready(self) -> bool:
        """Whether the worker has imported its grader, without waiting."""
        if not self.ready and self.conn.poll(0):
            self.ready = self.conn.recv() == "ready"
        return self.ready

    def wait_ready(self) -> None:
        """Block until the worker has imported its grader (raises OSError if it never does)."""
        if not self.ready:
            if not self.conn.poll(STARTUP_TIMEOUT_S) or self.conn.recv() != "ready":
                raise OSError("verify worker did not start")
            self.ready = True

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class VerifyPool:
    """`check(gold, predicted)` with math-verify, `workers` processes, `timeout_s` per check."""

    def __init__(self, workers: int = 2, timeout_s: float = 5.0) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.workers, self.timeout_s = workers, timeout_s
        self._ctx = mp.get_context("spawn")  # never fork a process that holds torch threads
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._started = 0
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], bool] = {}
        self.timeouts = 0
        self.crashes = 0
        atexit.register(self.close)

    def _acquire(self) -> _Worker:
        """An idle worker, preferring one that is ready: all workers start at first use, and a
        replacement (after a kill) warms up while the others serve checks, so that a check seldom
        waits for a start-up."""
        with self._lock:
            while self._started < self.workers:
                self._started += 1
                self._idle.put(_Worker(self._ctx))
        chosen = self._idle.get()
        if chosen.poll_ready():
            return chosen
        passed_over = []
        while True:
            try:
                other = self._idle.get_nowait()
            except queue.Empty:
                break
            if other.poll_ready():
                passed_over.append(chosen)
                chosen = other
                break
            passed_over.append(other)
        for worker in passed_over:
            self._idle.put(worker)
        return chosen

    def check(self, gold: str, predicted: str) -> bool:
        key = (gold, predicted)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        worker = self._acquire()
        verdict, cacheable = False, True
        try:
            worker.wait_ready()
            worker.conn.send(key)
            if worker.conn.poll(self.timeout_s):
                verdict = bool(worker.conn.recv())
            else:
                self.timeouts += 1
                worker.kill()
                worker = _Worker(self._ctx)
        except (EOFError, OSError):
            self.crashes += 1
            cacheable = False
            worker.kill()
            worker = _Worker(self._ctx)
        finally:
            self._idle.put(worker)
        if cacheable:
            with self._lock:
                self._cache[key] = verdict
        return verdict

    def close(self) -> None:
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            worker.kill()
        self._started = 0

    def __enter__(self) -> VerifyPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_shared: VerifyPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> VerifyPool:
    """One process-wide pool, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = VerifyPool()
        return _shared
