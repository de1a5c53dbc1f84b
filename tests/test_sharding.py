"""Sampling stages on several engines (rzero.engines.sharding): shard boundaries, the merged output equal to
one engine's (fakes, two Hugging Face engine processes, two vLLM CPU engines), engine processes that
fail loudly and stop cleanly, the GPUs engines go on, and model.vllm_engines."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from rzero.config.devices import engine_devices
from rzero.config.load import load_config
from rzero.config.schema import ConfigError, ModelConfig
from rzero.core.domains import get_domain
from rzero.core.sampling import GREEDY, Completion, Sampling
from rzero.engines.generation import HFGenerator
from rzero.engines.sharding import EngineSpec, ProcessGenerator, ShardedGenerator, shard_bounds
from rzero.run.inputs import embedded_base_path

SAMPLES = Sampling(samples_per_prompt=3, temperature=1.0)


class SeededFake:
    """A generator whose completions depend on the prompt, the sample index and the call's seed
    (seed, call number), as a seeded engine's do; it records the prompts of every call."""

    def __init__(self, seed: int = 7):
        self.seed, self.calls, self.seen = seed, 0, []

    def generate(self, prompts, sampling):
        self.seen.append(list(prompts))
        call_seed = self.seed * 1_000_003 + self.calls
        self.calls += 1
        n = sampling.samples_per_prompt
        return [[Completion(f"{p}|{i}|{call_seed}", len(p) + i, i % 2 == 0) for i in range(n)] for p in prompts]


class FailingFake(SeededFake):
    def generate(self, prompts, sampling):
        if "boom" in prompts:
            raise ValueError("the fake cannot answer boom")
        return super().generate(prompts, sampling)


def failing_fake() -> FailingFake:  # a factory an engine process imports by name
    return FailingFake()


class VisibleDevicesFake(SeededFake):
    def generate(self, prompts, sampling):
        return [[Completion(os.environ["CUDA_VISIBLE_DEVICES"], 1, True)] for _ in prompts]


def visible_devices_fake() -> VisibleDevicesFake:
    return VisibleDevicesFake()


def broken_factory():
    raise OSError("no such engine here")


@pytest.mark.parametrize(
    "items, shards, bounds",
    [
        (10, 3, [(0, 4), (4, 7), (7, 10)]),
        (9, 3, [(0, 3), (3, 6), (6, 9)]),
        (8, 1, [(0, 8)]),
        (5, 8, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 5), (5, 5), (5, 5)]),
        (0, 2, [(0, 0), (0, 0)]),
        (8000, 8, [(i * 1000, (i + 1) * 1000) for i in range(8)]),
    ],
)
def test_shards_are_contiguous_balanced_and_in_order(items, shards, bounds):
    assert shard_bounds(items, shards) == bounds


def test_shard_bounds_needs_a_shard():
    with pytest.raises(ValueError, match="shards must be >= 1"):
        shard_bounds(3, 0)


def test_sharded_fakes_give_what_one_fake_gives():
    """Several calls of different sizes (fewer prompts than shards, none, many): the merged output is
    one fake's, call numbers included, and each fake saw only its own contiguous shard."""
    prompts = [f"q{i}" for i in range(23)]
    single = SeededFake()
    shards = [SeededFake() for _ in range(3)]
    sharded = ShardedGenerator(shards, names=["0", "1", "2"])
    for batch in (prompts, prompts[:2], [], prompts[5:], prompts[:1]):
        assert sharded.generate(batch, SAMPLES) == single.generate(batch, SAMPLES)
    assert sharded.calls == single.calls == 5
    assert shards[0].seen[0] == prompts[:8] and shards[1].seen[0] == prompts[8:16] and shards[2].seen[0] == prompts[16:]
    assert shards[0].seen[1] == ["q0"] and shards[1].seen[1] == ["q1"]
    assert [len(fake.seen) for fake in shards] == [4, 3, 2]  # empty shards are skipped
    assert shards[2].seen[1] == prompts[17:]
    sharded.close()


def test_a_failing_shard_names_its_device_after_the_others_finish():
    healthy, failing = SeededFake(), FailingFake()
    sharded = ShardedGenerator([healthy, failing], names=["4", "5"])
    with pytest.raises(RuntimeError, match=r"shard 2 of 2 \(device 5\) failed: the fake cannot answer boom"):
        sharded.generate(["a", "b", "c", "boom"], SAMPLES)
    assert healthy.seen == [["a", "b"]]
    sharded.close()


def test_closing_closes_every_shard_even_when_one_fails():
    class Closing(SeededFake):
        closed = False

        def close(self):
            self.closed = True
            if self.seed == 1:
                raise OSError("engine 1 would not stop")

    shards = [Closing(seed) for seed in range(3)]
    sharded = ShardedGenerator(shards)
    with pytest.raises(OSError, match="engine 1 would not stop"):
        sharded.close()
    assert all(fake.closed for fake in shards)
    sharded.close()  # idempotent


def test_engine_process_serves_seeded_calls_and_stops():
    """An engine process answers as the generator would in this process, the call numbers this side
    keeps included; close() leaves no process behind."""
    engine = ProcessGenerator(failing_fake)
    local = FailingFake()
    for batch in (["a", "b"], ["c"], ["a", "b"]):
        assert engine.generate(batch, SAMPLES) == local.generate(batch, SAMPLES)
    engine.calls = 1
    local.calls = 1
    assert engine.generate(["x"], SAMPLES) == local.generate(["x"], SAMPLES)
    process = psutil.Process(engine.process.pid)
    engine.close()
    engine.close()  # idempotent
    assert not engine.process.is_alive() and engine.process.exitcode == 0
    assert gone(process, wait_s=0)


def test_engine_process_errors_carry_the_child_message():
    engine = ProcessGenerator(failing_fake)
    with pytest.raises(RuntimeError, match="on device cpu failed: ValueError: the fake cannot answer boom"):
        engine.generate(["boom"], SAMPLES)
    assert engine.generate(["ok"], SAMPLES)[0][0].text.startswith("ok|0|")  # it still serves
    engine.close()
    broken = ProcessGenerator(broken_factory, device="3")
    with pytest.raises(RuntimeError, match="device 3 failed: OSError: no such engine here"):
        broken.wait_ready()
    broken.close()
    assert not broken.process.is_alive()


def test_engine_process_sees_only_its_device():
    engine = ProcessGenerator(visible_devices_fake, device="6")
    assert engine.generate(["which"], GREEDY)[0][0].text == "6"
    engine.close()


def gone(process: psutil.Process, wait_s: float = 20.0) -> bool:
    """The process has exited (a zombie not yet reaped counts as exited), waiting up to `wait_s`."""
    deadline = time.time() + wait_s
    while True:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.time() >= deadline:
            return False
        time.sleep(0.1)


def test_engine_process_dies_with_its_parent(tmp_path):
    """A parent killed by SIGKILL (no cleanup at all) takes its engine process with it."""
    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from rzero.engines.sharding import ProcessGenerator\n"
        "from test_sharding import failing_fake\n"
        "engine = ProcessGenerator(failing_fake)\n"
        "engine.wait_ready()\n"
        "print(engine.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert psutil.pid_exists(child)
    engine = psutil.Process(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert gone(engine), "the engine process outlived its parent"


def test_hugging_face_engine_processes_shard_greedy_decoding_exactly():
    """Two Hugging Face engine processes of the shipped model, prompts sharded between them, against
    one engine in this process: the same greedy completions of 16 held-out prompts, over two calls."""
    domain = get_domain("arithmetic")
    prompts = [domain.solver_prompt(p.question) for p in domain.heldout()[:16]]
    path = str(embedded_base_path())
    spec = EngineSpec("hf", path, seed=0, device="cpu", threads=1)
    sharded = ShardedGenerator([ProcessGenerator(spec), ProcessGenerator(spec)], names=["cpu", "cpu"])
    try:
        single = HFGenerator.from_pretrained(path, seed=0)
        greedy = Sampling(samples_per_prompt=1, temperature=0.0, max_new_tokens=48)
        for batch in (prompts, prompts[3:12]):
            expected = single.generate(batch, greedy)
            assert sharded.generate(batch, greedy) == expected
            assert len({o[0].text for o in expected}) > 1
    finally:
        sharded.close()
    assert not any(engine.process.is_alive() for engine in sharded.generators)


@pytest.mark.vllm
def test_vllm_engines_shard_seeded_sampling_exactly():
    """Two vLLM CPU engine processes, prompts sharded between them, against one engine: the same seed
    gives the same four samples per prompt at temperature 1, call after call (vLLM seeds each request
    from (seed, call number) alone). The engines' processes are gone after close()."""
    from rzero.engines.generation import VLLMGenerator

    domain = get_domain("arithmetic")
    prompts = [domain.solver_prompt(p.question) for p in domain.heldout()[:24]]
    path = str(embedded_base_path())
    spec = EngineSpec("vllm", path, seed=3, device="cpu", kv_cache_gib=0.5)
    sharded = ShardedGenerator([ProcessGenerator(spec), ProcessGenerator(spec)], names=["cpu", "cpu"])
    four = Sampling(samples_per_prompt=4, temperature=1.0, max_new_tokens=64)
    try:
        outputs = [sharded.generate(prompts, four), sharded.generate(prompts[5:], four)]
        engine_pids = [engine.process.pid for engine in sharded.generators]
        family = [p for pid in engine_pids for p in [psutil.Process(pid), *psutil.Process(pid).children(True)]]
    finally:
        sharded.close()
    assert len(family) > 2  # vLLM's engine cores run in processes of their own
    assert all(gone(p) for p in family)
    single = VLLMGenerator(path, seed=3, device="cpu", kv_cache_gib=0.5)
    try:
        expected = [single.generate(prompts, four), single.generate(prompts[5:], four)]
    finally:
        single.close()
    assert outputs == expected
    assert len({c.text for o in outputs[0] for c in o}) > len(prompts)  # sampled, not greedy


def test_engines_go_one_per_visible_gpu():
    gpu = ModelConfig(vllm=True, device="cuda")
    assert engine_devices(gpu, "4,5,6,7") == ["4", "5", "6", "7"]
    assert engine_devices(gpu, None, gpus=3) == ["0", "1", "2"]
    assert engine_devices(gpu, "", gpus=2) == ["0", "1"]
    assert engine_devices(ModelConfig(vllm=True, device="cuda", vllm_engines=2), "4,5,6,7") == ["4", "5"]
    assert engine_devices(ModelConfig(vllm=True, device="cuda", vllm_engines=9), "4,5") == ["4", "5"]
    # a single engine in the stage's process
    assert engine_devices(ModelConfig(vllm=True, device="cuda", vllm_engines=1), "4,5,6,7") == ["cuda"]
    assert engine_devices(gpu, "3") == ["cuda"]
    assert engine_devices(gpu, None, gpus=1) == ["cuda"]
    assert engine_devices(ModelConfig(vllm=True, device="cpu"), "0,1") == ["cpu"]
    assert engine_devices(ModelConfig(vllm=False, device="cuda"), "0,1") == ["cuda"]
    assert engine_devices(ModelConfig(vllm=True, device="cuda:1"), "0,1") == ["cuda:1"]


def test_vllm_engines_is_validated():
    assert load_config(None, []).model.vllm_engines == 0
    assert load_config(None, ["model.vllm_engines=4"]).model.vllm_engines == 4
    with pytest.raises(ConfigError, match=r"model\.vllm_engines must be >= 0, got -1"):
        load_config(None, ["model.vllm_engines=-1"])
    with pytest.raises(ConfigError, match=r"model\.vllm_engines must be an integer"):
        load_config(None, ["model.vllm_engines=1.5"])


def test_stage_generators_go_one_engine_per_gpu(monkeypatch):
    """The wiring of generators.stage_generator with model.vllm on CUDA, engines faked: an engine process per
    visible GPU for votes, pools and evaluation (memory share per GPU, one seed), one in-process engine
    for the frozen Solver beside training, with model.vllm_engines=1, and on a single GPU."""
    from contextlib import ExitStack

    from rzero.engines import generators

    built, closed = [], []

    class Engine:
        def __init__(self, settings):
            built.append(settings)

        def close(self):
            closed.append(self)

    monkeypatch.setattr(generators, "sharded_engines", Engine)
    monkeypatch.setattr(generators, "VLLMGenerator", lambda path, **kwargs: Engine(kwargs))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    cfg = load_config(None, ["model.vllm=true", "model.device=cuda", "seed=5"])
    with ExitStack() as engines:
        generators.stage_generator(Path("/m"), cfg, 3, "votes", engines, "pair")
        generators.stage_generator(Path("/m"), cfg, 1, "frozen", engines, "beside_training")
        cfg.model.vllm_engines = 1
        generators.stage_generator(Path("/m"), cfg, 0, "evaluate", engines)
        cfg.model.vllm_engines = 0
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
        generators.stage_generator(Path("/m"), cfg, 0, "evaluate", engines)
    memory = {"memory_share": 0.4, "kv_cache_gib": 1.0}
    assert built[0] == [EngineSpec("vllm", "/m", 5003, gpu, **memory) for gpu in ("2", "3")]
    assert built[1] == {"seed": 5001, "device": "cuda", "memory_share": 0.25, "kv_cache_gib": 1.0}
    assert built[2]["memory_share"] == built[3]["memory_share"] == 0.85 and len(built) == 4
    assert len(closed) == 4  # every engine stopped with the stage


def test_each_rank_takes_its_own_gpu(monkeypatch):
    """Ranks of a multi-process phase: "cuda" is the rank's own GPU (every rank on cuda:0 would load every
    copy there), and an engine process of a rank sees that rank's GPU as CUDA_VISIBLE_DEVICES names it."""
    from rzero.engines import ranks

    assert ranks.rank_device("cuda") == "cuda" and ranks.rank_gpu(None) == "0"  # one process
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert ranks.rank_device("cuda") == "cuda:2" and ranks.rank_device("cpu") == "cpu"
    assert ranks.rank_device("cuda:1") == "cuda:1"  # a device named by hand stays
    assert ranks.rank_gpu("4,5,6,7") == "6" and ranks.rank_gpu("") == "2"
    assert ranks.gather([1, 2]) == ([1, 2], 0) and ranks.from_main("x") == "x"  # no process group: this one
