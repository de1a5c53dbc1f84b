"""The vLLM paths against a real vLLM on CPU (`make test-vllm`, which .ci/run calls): the in-process
engine against Hugging Face `generate`, the sampling mapping, seeds, and the frozen Solver as a vLLM
server process that rzero starts, checks and stops. Marked `vllm`: skipped where vLLM's CPU build is
missing, failed instead under RZERO_REQUIRE_VLLM=1. One engine and one server serve the module."""

import os
import socket
import time

import pytest

from rzero.core.domains import get_domain
from rzero.core.sampling import GREEDY, Sampling
from rzero.engines.generation import HFGenerator
from rzero.engines.processes import group_alive
from rzero.run.inputs import embedded_base_path

pytestmark = pytest.mark.vllm

PROMPTS = 64  # held-out prompts compared between the backends


@pytest.fixture(scope="module")
def domain():
    return get_domain("arithmetic")


@pytest.fixture(scope="module")
def prompts(domain):
    return [domain.solver_prompt(p.question) for p in domain.heldout()[:PROMPTS]]


@pytest.fixture(scope="module")
def engine():
    from rzero.engines.generation import VLLMGenerator

    generator = VLLMGenerator(embedded_base_path(), seed=0, device="cpu", kv_cache_gib=0.5)
    yield generator
    generator.close()


@pytest.fixture(scope="module")
def hf_greedy(prompts):
    generator = HFGenerator.from_pretrained(embedded_base_path(), seed=0)
    return generator.generate(prompts, GREEDY)


def identical_share(a, b) -> float:
    return sum(x[0].text == y[0].text for x, y in zip(a, b, strict=True)) / len(a)


def test_greedy_agrees_with_hugging_face(engine, prompts, hf_greedy):
    """fp32 on both sides: greedy completions of the held-out prompts are the same text, with the same
    token counts and finish flags (the share is printed; benchmarks/generation.py measures 256)."""
    out = engine.generate(prompts, GREEDY)
    share = identical_share(out, hf_greedy)
    print(f"greedy completions identical to HF: {share:.3f} of {len(prompts)}")
    assert share >= 0.95
    same = [(x[0].tokens, x[0].finished) == (y[0].tokens, y[0].finished) for x, y in zip(out, hf_greedy, strict=True)]
    assert sum(same) / len(same) >= 0.95


def test_sampling_is_mapped_as_configured(engine, prompts, hf_greedy):
    from rzero.engines.generation import vllm_sampling_params

    params = vllm_sampling_params(Sampling(samples_per_prompt=7, temperature=0.7, top_p=0.9, max_new_tokens=33), 5)
    assert (params.n, params.temperature, params.top_p, params.max_tokens, params.seed) == (7, 0.7, 0.9, 33, 5)
    assert params.top_k in (0, -1)  # no top-k cut, as HFGenerator samples
    assert vllm_sampling_params(GREEDY, None).top_p == 1.0

    few = prompts[:8]
    out = engine.generate(few, Sampling(samples_per_prompt=3, temperature=1.0, max_new_tokens=4))
    assert [len(o) for o in out] == [3] * 8
    assert all(c.tokens <= 4 for o in out for c in o)
    assert any(not c.finished and c.tokens == 4 for o in out for c in o)  # cut at max_new_tokens, not finished
    # top_p close to 0 keeps only the most likely token: sampling at T = 1 is then greedy decoding
    nucleus = engine.generate(few, Sampling(samples_per_prompt=2, temperature=1.0, top_p=1e-6, max_new_tokens=256))
    assert all(c.text == hf[0].text for o, hf in zip(nucleus, hf_greedy[:8], strict=True) for c in o)
    # temperature matters: near 0 it is greedy, at 1.5 the samples spread out
    cold = engine.generate(few, Sampling(samples_per_prompt=2, temperature=1e-4, max_new_tokens=256))
    assert identical_share([[c] for o in cold for c in o], [hf for hf in hf_greedy[:8] for _ in range(2)]) >= 0.9
    hot = engine.generate(few, Sampling(samples_per_prompt=4, temperature=1.5, max_new_tokens=64))
    assert sum(len({c.text for c in o}) for o in hot) > 2 * len(few)


def test_a_fixed_seed_gives_the_same_samples_twice(engine, prompts):
    """Each call is seeded from (seed, call number): the same call number repeats its samples exactly,
    the next call number draws others."""
    ten = Sampling(samples_per_prompt=10, temperature=1.0, max_new_tokens=64)
    engine.calls = 100
    first = engine.generate(prompts[:16], ten)
    engine.calls = 100
    again = engine.generate(prompts[:16], ten)
    following = engine.generate(prompts[:16], ten)
    texts = lambda out: [c.text for o in out for c in o]  # noqa: E731
    assert texts(first) == texts(again)
    assert texts(following) != texts(first)


def test_seeded_sampling_of_prompts_longer_than_a_prefill_chunk(engine, prompts):
    """128 seeded requests of about 400 prompt tokens: far more than one step's token budget, so with
    vLLM's default chunked prefill some prompts would be split across steps, and vLLM 0.31's CPU build
    then dies rewinding their seeded generators ("CPU Generator does not use offset"). rzero turns
    chunked prefill off on CPU (`vllm_engine_args`); this is the workload that met the bug."""
    filler = "".join(f"{i}+{i}={2 * i}\n" for i in range(40))
    long = [filler + p for p in prompts[:32]]
    out = engine.generate(long, Sampling(samples_per_prompt=4, temperature=1.0, max_new_tokens=32))
    assert [len(o) for o in out] == [4] * 32 and all(c.tokens > 0 for o in out for c in o)


def port_is_free(port: int) -> bool:
    """Nothing listens on `port`: a new server could take it (as servers do, with SO_REUSEADDR, which
    lets it past the TIME_WAIT of connections the old server closed)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
        return True


def test_the_frozen_solver_as_a_server_process(tmp_path, prompts, hf_greedy):
    """The server command rzero starts (CPU form), health-checked, read by OpenAIGenerator: greedy agrees
    with HF, n samples per prompt in order with token counts and finish flags; stopped, it leaves no
    process of its group and frees its port."""
    from rzero.engines.processes import free_port
    from rzero.engines.remote import ManagedServer, OpenAIGenerator, vllm_serve_argv

    port = free_port()
    argv = vllm_serve_argv(embedded_base_path(), port, cpu_kv_cache_gib=0.5)
    server = ManagedServer(argv, port, env={"CUDA_VISIBLE_DEVICES": ""}, log_file=tmp_path / "server.log")
    started = time.time()
    with server:
        print(f"server healthy after {time.time() - started:.0f} s")
        client = OpenAIGenerator(server.url, "solver", seed=0, prompts_per_request=16)
        greedy = client.generate(prompts[:32], GREEDY)
        votes = client.generate(prompts[:8], Sampling(samples_per_prompt=5, temperature=1.0, max_new_tokens=96))
        group = server.process.pid
    assert identical_share(greedy, hf_greedy[:32]) >= 0.95
    same = [
        (g[0].tokens, g[0].finished) == (hf[0].tokens, hf[0].finished)
        for g, hf in zip(greedy, hf_greedy[:32], strict=True)
    ]
    assert sum(same) >= 0.95 * len(greedy)
    assert [len(v) for v in votes] == [5] * 8 and all(c.tokens > 0 for v in votes for c in v)
    assert any(c.finished for v in votes for c in v)
    assert not group_alive(group) and port_is_free(port)


TINY = [
    "iterations=1",
    "challenger.grpo_steps=1",
    "challenger.prompts_per_step=2",
    "challenger.rollouts_per_prompt=4",
    "voting.votes_per_question=4",
    "curriculum.pool_questions=16",
    "curriculum.band_delta=0.5",
    "solver.grpo_steps=1",
    "solver.questions_per_step=2",
    "solver.rollouts_per_question=4",
    "solver.max_new_tokens=64",
    "eval.max_new_tokens=64",
    "eval.problems=16",
    "model.threads=2",
    "model.vllm_kv_cache_gib=0.5",
]


def default_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def rzero_run(out, *overrides, wait=True):
    import subprocess
    import sys

    command = [sys.executable, "-m", "rzero.cli", "run", "--out", str(out), *TINY, *overrides]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    log = open(out.parent / f"{out.name}.log", "w")  # noqa: SIM115
    # SIGINT as a terminal gives it: a shell's background job (CI, nohup) inherits it ignored
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=default_sigint)
    if wait:
        assert process.wait(timeout=1200) == 0, (out.parent / f"{out.name}.log").read_text()[-3000:]
    return process


def shape(value):
    """The keys of nested records (the values, None included, differ between backends and runs)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return "list" if isinstance(value, list) else "value"


def test_rzero_run_through_vllm_has_the_summary_of_a_hugging_face_run(tmp_path):
    """One small iteration with votes, pool and evaluation in vLLM engines and the frozen Solver of the
    Challenger reward as a vLLM server process: it finishes, with the summary shape of the HF run."""
    import json

    rzero_run(tmp_path / "vllm", "model.vllm=true", "challenger.solver_server_devices=cpu")
    rzero_run(tmp_path / "hf")
    runs = {name: json.loads((tmp_path / name / "summary.json").read_text()) for name in ("vllm", "hf")}
    vllm_iterations, hf_iterations = runs["vllm"]["iterations"], runs["hf"]["iterations"]
    assert len(vllm_iterations) == len(hf_iterations) == 2
    assert [shape(i) for i in vllm_iterations] == [shape(i) for i in hf_iterations]
    log = (tmp_path / "vllm" / "iter_01" / "challenger.rzero_solver_url.log").read_text()
    assert "/v1/completions" in log  # the Challenger reward asked the server
    assert 0 < vllm_iterations[1]["evaluate"]["greedy_accuracy"] <= 1


def server_children(pid: int) -> list[tuple[int, int]]:
    """(pid, port) of the vLLM servers whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().decode().split("\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and "vllm.entrypoints.openai.api_server" in argv:
            found.append((int(entry), int(argv[argv.index("--port") + 1])))
    return found


def healthy(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_no_server_outlives_its_run(tmp_path, stop):
    """`rzero run` stopped by Ctrl-C, by `kill`, or killed outright (a crash) while the frozen Solver's
    server is up: no process of the server's group is left and its port is free again."""
    import signal

    out = tmp_path / "run"
    process = rzero_run(out, "challenger.solver_server_devices=cpu", "challenger.grpo_steps=50", wait=False)
    deadline, servers, up = time.time() + 600, [], False
    while time.time() < deadline and not up:
        log = (tmp_path / "run.log").read_text(errors="replace")
        assert process.poll() is None, log[-3000:]
        servers = server_children(process.pid)
        # up: the Challenger phase trains against it (rzero saw it healthy), or it answers; under load,
        # while it serves the phase's votes, its health check can take longer than the probe's timeout
        up = bool(servers) and ("challenger GRPO" in log or healthy(servers[0][1]))
        time.sleep(1)
    assert up, "the run never started its Solver server"
    (group, port), started = servers[0], time.time()
    with open(f"/proc/{process.pid}/status") as handle:  # how rzero takes signals right now, for the record
        masks = " ".join(
            line.split()[0] + line.split()[1] for line in handle if line.startswith(("SigBlk", "SigIgn", "SigCgt"))
        )
    process.send_signal(getattr(signal, stop))
    code = process.wait(timeout=120)
    while group_alive(group) and time.time() < started + 120:
        time.sleep(0.5)
    print(f"{stop}: rzero exited {code}; server group gone after {time.time() - started:.1f} s; {masks}")
    assert not group_alive(group) and port_is_free(port)
    if stop != "SIGKILL":
        log = (tmp_path / "run.log").read_text()
        assert code == 130 and "--resume" in log, f"exit {code}, signal masks {masks}; log: {log[-1500:]}"
