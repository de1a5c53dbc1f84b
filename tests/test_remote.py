"""The HTTP generator against a local fake OpenAI-compatible server started and stopped by ManagedServer."""

import sys
import time
from pathlib import Path

import pytest

from rzero.core.sampling import Sampling
from rzero.engines.processes import free_port, group_alive
from rzero.engines.remote import ManagedServer, OpenAIGenerator, RemoteError, vllm_serve_argv

FAKE = Path(__file__).with_name("fake_openai_server.py")


def server(tmp_path, **env):
    port = free_port()
    argv = [sys.executable, str(FAKE), str(port)]
    return ManagedServer(
        argv, port, env={k: str(v) for k, v in env.items()}, log_file=tmp_path / "s.log", startup_timeout_s=30
    )


def test_generate_in_order_with_n_samples_and_chunks(tmp_path):
    with server(tmp_path) as srv:
        gen = OpenAIGenerator(srv.url, "solver", prompts_per_request=2, backoff_s=0.01)
        prompts = ["a", "bb", "ccc", "dddd", "eeeee"]
        out = gen.generate(prompts, Sampling(samples_per_prompt=3, temperature=1.0, max_new_tokens=8))
        assert [[c.text for c in row] for row in out] == [[f"\\boxed{{{len(p)}}}"] * 3 for p in prompts]
        assert out[0][0].finished and out[0][0].tokens == len("\\boxed{1}")
        assert gen.calls == 3
        process = srv.process
    assert process.poll() is not None  # stopped on exit, its group only


def test_retries_then_succeeds_and_gives_up_clearly(tmp_path):
    with server(tmp_path, FAIL_FIRST=2) as srv:
        gen = OpenAIGenerator(srv.url, "solver", retries=3, backoff_s=0.01)
        assert gen.generate(["x"], Sampling(1, 0.0))[0][0].text == "\\boxed{1}"
    with server(tmp_path, FAIL_FIRST=10) as srv:
        gen = OpenAIGenerator(srv.url, "solver", retries=1, backoff_s=0.01)
        with pytest.raises(RemoteError, match="HTTP 503 after 2 attempts"):
            gen.generate(["x"], Sampling(1, 0.0))


def test_unreachable_server_fails_with_a_clear_error():
    gen = OpenAIGenerator(f"http://127.0.0.1:{free_port()}", "solver", retries=1, backoff_s=0.01, timeout_s=2)
    started = time.time()
    with pytest.raises(RemoteError, match="after 2 attempts"):
        gen.generate(["x"], Sampling(1, 0.0))
    assert time.time() - started < 10


def test_server_that_dies_at_start_reports_its_log(tmp_path):
    port = free_port()
    argv = [sys.executable, "-c", "import sys; print('no GPU here'); sys.exit(3)"]
    with pytest.raises(RemoteError, match="exited with code 3: no GPU here"):
        ManagedServer(argv, port, log_file=tmp_path / "log", startup_timeout_s=30).start()


def test_vllm_command():
    """The server module under this interpreter (the CPU build's `vllm` command dies at start); the CPU
    form sizes the KV cache in bytes instead of taking a share of GPU memory."""
    argv = vllm_serve_argv("/models/solver", 8011)
    assert argv[:4] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model"]
    assert "/models/solver" in argv and "8011" in argv and "127.0.0.1" in argv and "--gpu-memory-utilization" in argv
    cpu = vllm_serve_argv("/models/solver", 8011, cpu_kv_cache_gib=0.5)
    assert cpu[cpu.index("--kv-cache-memory-bytes") + 1] == str(2**29) and "--gpu-memory-utilization" not in cpu


def test_stop_leaves_no_process_of_the_group(tmp_path):
    """A server whose helper process ignores SIGTERM (as a stuck engine would): stop() kills what is
    left of the group after the grace period and returns only when none of it is left."""
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    script = (
        f"import runpy, subprocess, sys; subprocess.Popen([sys.executable, '-c', {stubborn!r}]); "
        f"sys.argv = [{str(FAKE)!r}, sys.argv[1]]; runpy.run_path({str(FAKE)!r}, run_name='__main__')"
    )
    port = free_port()
    srv = ManagedServer([sys.executable, "-c", script, str(port)], port, log_file=tmp_path / "s.log")
    group = srv.start().process.pid
    time.sleep(0.5)
    started = time.time()
    srv.stop(grace_s=1)
    assert not group_alive(group) and time.time() - started < 5
    srv.stop(grace_s=1)  # a second stop is harmless


def test_a_server_dies_with_the_process_that_started_it(tmp_path):
    """SIGKILL the process that started a server (nothing of it can run): the kernel sends the server
    SIGTERM (PR_SET_PDEATHSIG), and no process of the server's group is left."""
    import os
    import signal
    import subprocess

    code = (
        "import sys, time\n"
        "from rzero.engines.processes import free_port\n"
        "from rzero.engines.remote import ManagedServer\n"
        "port = free_port()\n"
        f"server = ManagedServer([sys.executable, {str(FAKE)!r}, str(port)], port, startup_timeout_s=30).start()\n"
        "print(server.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    group = int(parent.stdout.readline())
    assert group_alive(group)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while group_alive(group) and time.time() < deadline:
        time.sleep(0.1)
    assert not group_alive(group)
