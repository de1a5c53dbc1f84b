"""Sampling on every GPU of a stage: one engine process per GPU, prompts sharded among them in order.

vLLM sees the GPUs that CUDA_VISIBLE_DEVICES names when its processes start, so one engine per GPU
means one process per GPU started with that GPU alone visible: `ProcessGenerator` is such a process,
serving `generate` calls over a pipe. `ShardedGenerator` splits each call's prompts into contiguous,
balanced shards, one per engine, runs them at the same time and concatenates the results in the
original order. Every shard's engine has the same base seed and is given the same call number, and
vLLM seeds each request from (seed, call number) alone, so a prompt's samples do not depend on which
shard it lands in: the merged output is the one a single engine gives. (HFGenerator seeds the whole
batch instead, so there only greedy decoding is independent of the sharding.)

`rzero.config.devices.engine_devices` decides the GPUs from the config and the visible GPUs, without
touching them; `stage_engine_devices` asks it for this process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass
from multiprocessing.util import Finalize
from typing import Literal

from rzero.config.devices import engine_devices
from rzero.config.schema import ModelConfig
from rzero.core.sampling import Completion, Generator, Sampling
from rzero.engines.processes import die_with_parent

STOP_GRACE_S = 60.0  # how long close() waits for an engine process to stop its engine before SIGTERM


def stage_engine_devices(model: ModelConfig) -> list[str]:
    """`engine_devices` for this process: its CUDA_VISIBLE_DEVICES, else all GPUs torch counts (torch
    is asked only then)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if not model.vllm or model.device != "cuda" or model.vllm_engines == 1 or visible:
        return engine_devices(model, visible)
    import torch

    return engine_devices(model, visible, torch.cuda.device_count())


def shard_bounds(items: int, shards: int) -> list[tuple[int, int]]:
    """[start, end) of `shards` contiguous shards of `items` items, in order, their sizes differing by
    at most one (the first items % shards are one larger); shards past the items are empty."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    size, extra = divmod(items, shards)
    bounds, start = [], 0
    for shard in range(shards):
        end = start + size + (shard < extra)
        bounds.append((start, end))
        start = end
    return bounds


class ShardedGenerator:
    """Several generators as one: each call's prompts are split into contiguous, balanced shards (one
    per generator, in order; empty shards skipped), the shards run at the same time on threads (which
    only wait when the work happens in other processes: ProcessGenerator, vLLM's engine), and the
    results are joined in the prompts' order.

    `calls` counts calls as a single generator's does, and before every call each shard's generator
    is given that call number (its `calls`), so that all of them seed the call as one generator
    would. A shard that fails raises RuntimeError naming the shard and its device, once the others
    have finished. `close()` closes every generator.
    """

    def __init__(self, generators: Sequence[Generator], names: Sequence[str] | None = None):
        if not generators:
            raise ValueError("ShardedGenerator needs at least one generator")
        if names is not None and len(names) != len(generators):
            raise ValueError(f"{len(names)} names for {len(generators)} generators")
        self.generators = list(generators)
        self.names = list(names) if names is not None else [str(i) for i in range(len(generators))]
        self.calls, self._closed = 0, False
        self._threads = ThreadPoolExecutor(max_workers=len(self.generators), thread_name_prefix="rzero-shard")

    def generate(self, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
        prompts = list(prompts)
        call, self.calls = self.calls, self.calls + 1
        running = {}
        for shard, (start, end) in enumerate(shard_bounds(len(prompts), len(self.generators))):
            if end > start:
                generator = self.generators[shard]
                generator.calls = call  # type: ignore[attr-defined]
                running[shard] = (end - start, self._threads.submit(generator.generate, prompts[start:end], sampling))
        wait_all([future for _, future in running.values()])
        results: list[list[Completion]] = []
        for shard, (size, future) in running.items():
            where = f"shard {shard + 1} of {len(self.generators)} (device {self.names[shard]})"
            error = future.exception()
            if error is not None:
                raise RuntimeError(f"{where} failed: {error}") from error
            rows = future.result()
            if len(rows) != size:
                raise RuntimeError(f"{where} returned {len(rows)} results for {size} prompts")
            results += rows
        return results

    def close(self) -> None:
        """Close every generator, at the same time (engines take seconds each to stop), all of them even
        when one fails: the first error is raised after. Idempotent."""
        if self._closed:
            return
        self._closed = True
        # threads of their own: after Ctrl-C the shards' threads may still wait for their engines
        with ThreadPoolExecutor(max_workers=len(self.generators), thread_name_prefix="rzero-close") as closer:
            closing = [closer.submit(g.close) for g in self.generators if getattr(g, "close", None)]
        self._threads.shutdown(wait=True)
        errors = [future.exception() for future in closing if future.exception() is not None]
        if errors:
            raise errors[0]


@dataclass(frozen=True)
class EngineSpec:
    """What an engine process builds, picklable so that it crosses into a 'spawn' process: a
    VLLMGenerator ("vllm") or HFGenerator ("hf") of the model folder `path`, seeded with `seed`, on
    `device`: "cpu", or a GPU as CUDA_VISIBLE_DEVICES names it ("3"), the only one the process sees.
    Memory: vLLM's share of the GPU, or its KV cache on CPU (`generation.vllm_engine_args`); `threads`:
    torch threads of an "hf" engine (0 = torch's default)."""

    backend: Literal["vllm", "hf"]
    path: str
    seed: int
    device: str = "cpu"
    memory_share: float = 0.85
    kv_cache_gib: float = 1.0
    threads: int = 0

    def __post_init__(self) -> None:
        if self.backend not in ("vllm", "hf"):
            raise ValueError(f"backend must be vllm or hf, got {self.backend!r}")

    def __call__(self) -> Generator:
        """Build the generator in this process (an engine process: its GPU is already the only one)."""
        from rzero.engines.generation import HFGenerator, VLLMGenerator, set_threads

        device = "cpu" if self.device == "cpu" else "cuda"
        if self.backend == "vllm":
            memory = {"memory_share": self.memory_share, "kv_cache_gib": self.kv_cache_gib}
            return VLLMGenerator(self.path, seed=self.seed, device=device, **memory)
        if self.threads:
            set_threads(self.threads)
        return HFGenerator.from_pretrained(self.path, device=device, seed=self.seed)


class ProcessGenerator:
    """A generator in a process of its own that sees only `device` (CUDA_VISIBLE_DEVICES is set there
    before anything starts; "cpu" hides every GPU). `factory` (picklable: an EngineSpec, or a function
    importable by name) builds the generator in that process; the engine loads while the caller goes
    on, and the first `generate` (or `wait_ready()`) waits for it. Calls go over a pipe with this
    object's `calls`, which the process gives its generator before each call, so it seeds the call as
    the generator would in this process.

    An error in the process comes back as RuntimeError carrying its traceback. The process dies with
    its parent (Linux PR_SET_PDEATHSIG, which follows the thread that creates this object: create it
    in a thread that lives as long as it is used, such as the main thread) and at interpreter exit.
    `close()` stops it (its generator closed first) and waits for it.
    """

    def __init__(self, factory: Callable[[], Generator], device: str = "cpu"):
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no CUDA state inherited
        self.device = device
        self.calls = 0
        self._ready = False
        self._conn, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(factory, device, child_end), name=f"rzero-engine-{device}")
        self.process.start()
        child_end.close()  # the process's end lives only there: its death reads as end of file here
        self._stop = Finalize(self, _stop_process, args=(self.process, self._conn), exitpriority=10)

    def wait_ready(self) -> None:
        """Wait until the generator is built in the process (RuntimeError if that failed)."""
        if not self._ready:
            self._receive()
            self._ready = True

    def generate(self, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
        self.wait_ready()
        self._conn.send((list(prompts), sampling, self.calls))
        self.calls += 1
        return self._receive()

    def _receive(self):
        try:
            kind, value = self._conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            code = self.process.exitcode
            raise RuntimeError(f"engine process on device {self.device} exited (exit code {code})") from None
        if kind == "error":
            last = value.strip().splitlines()[-1]
            raise RuntimeError(f"engine process on device {self.device} failed: {last}\n{value}")
        return value

    def close(self) -> None:
        """Stop the process: its generator closed (vLLM's engine stopped), then waited for; SIGTERM
        after STOP_GRACE_S, SIGKILL after more. Idempotent."""
        self._stop()


def _stop_process(process, conn) -> None:
    with contextlib.suppress(OSError, ValueError):  # already gone
        conn.send(None)
    for wait_s, signal_it in ((STOP_GRACE_S, process.terminate), (10.0, process.kill)):
        process.join(wait_s)
        if not process.is_alive():
            break
        signal_it()
    process.join()
    conn.close()


def _serve(factory: Callable[[], Generator], device: str, conn) -> None:
    """The engine process: see only `device`, build the generator, answer (prompts, sampling, call)
    requests until None or the parent's end of the pipe closes, then close the generator. Ctrl-C is
    the parent's to handle (it stops this process); SIGTERM closes the generator on the way out."""
    os.environ["CUDA_VISIBLE_DEVICES"] = "" if device == "cpu" else device
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        generator = factory()
    except BaseException:  # noqa: BLE001 - sent to the parent, which raises it
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ready", None))
    try:
        while True:
            try:
                request = conn.recv()
            except EOFError:
                break
            if request is None:
                break
            prompts, sampling, call = request
            generator.calls = call  # type: ignore[attr-defined]
            try:
                conn.send(("ok", generator.generate(prompts, sampling)))
            except Exception:  # noqa: BLE001 - sent to the parent, which raises it
                conn.send(("error", traceback.format_exc()))
    finally:
        close = getattr(generator, "close", None)
        if close is not None:
            close()


def sharded_engines(specs: Sequence[EngineSpec]) -> ShardedGenerator:
    """One engine process per spec (they load at the same time), as one ShardedGenerator whose shards
    are named by device. Processes already started are stopped if a later one fails to start."""
    processes: list[ProcessGenerator] = []
    try:
        for spec in specs:
            processes.append(ProcessGenerator(spec, spec.device))
    except BaseException:
        for process in processes:
            process.close()
        raise
    return ShardedGenerator(processes, names=[spec.device for spec in specs])
