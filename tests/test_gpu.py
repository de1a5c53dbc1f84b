"""GPU paths: run only where vLLM and a CUDA device are present (`pytest -m gpu`); see scripts/gpu_smoke.sh."""

import pytest

pytestmark = pytest.mark.gpu


def test_vllm_generator_on_the_embedded_model():
    torch = pytest.importorskip("torch")
    pytest.importorskip("vllm")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from rzero.core.domains.arithmetic import ArithmeticDomain
    from rzero.core.sampling import Sampling
    from rzero.engines.generation import VLLMGenerator
    from rzero.run.inputs import embedded_base_path

    domain = ArithmeticDomain()
    generator = VLLMGenerator(embedded_base_path(), seed=0, memory_share=0.2)
    easy = [p for p in domain.heldout() if p.difficulty == 1][:16]
    out = generator.generate([domain.solver_prompt(p.question) for p in easy], Sampling(2, 0.0, 1.0, 64))
    right = sum(
        domain.equivalent(domain.extract_answer(o[0].text) or "", p.answer) for p, o in zip(easy, out, strict=True)
    )
    assert right >= 14 and all(len(o) == 2 for o in out)


def test_vllm_serve_as_the_frozen_solver(tmp_path):
    """`vllm serve` started by ManagedServer on the embedded model; OpenAIGenerator gets n samples."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("vllm")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from rzero.core.domains.arithmetic import ArithmeticDomain
    from rzero.core.sampling import Sampling
    from rzero.engines.processes import free_port
    from rzero.engines.remote import ManagedServer, OpenAIGenerator, vllm_serve_argv
    from rzero.run.inputs import embedded_base_path

    domain = ArithmeticDomain()
    port = free_port()
    argv = vllm_serve_argv(embedded_base_path(), port, gpu_memory_utilization=0.2)
    with ManagedServer(argv, port, log_file=tmp_path / "vllm.log", startup_timeout_s=600) as server:
        generator = OpenAIGenerator(server.url, "solver", seed=0)
        easy = [p for p in domain.heldout() if p.difficulty == 1][:8]
        out = generator.generate([domain.solver_prompt(p.question) for p in easy], Sampling(3, 1.0, 1.0, 64))
    assert all(len(o) == 3 for o in out)
    answers = [domain.extract_answer(c.text) for o in out for c in o]
    assert sum(a is not None for a in answers) >= 20


def test_evaluation_sharded_over_two_engine_processes_gives_one_engines_output():
    """Two vLLM engine processes on the one GPU (a share each), prompts sharded between them: the merged
    greedy completions are those of one engine (scripts/gpu_smoke.sh, part vllm)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("vllm")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from rzero.core.domains.arithmetic import ArithmeticDomain
    from rzero.core.sampling import GREEDY
    from rzero.engines.generation import VLLMGenerator
    from rzero.engines.sharding import EngineSpec, sharded_engines
    from rzero.run.inputs import embedded_base_path

    domain = ArithmeticDomain()
    prompts = [domain.solver_prompt(p.question) for p in domain.heldout()[:32]]
    path = str(embedded_base_path())
    sharded = sharded_engines([EngineSpec("vllm", path, 0, "0", memory_share=0.3) for _ in range(2)])
    try:
        merged = [o[0].text for o in sharded.generate(prompts, GREEDY)]
    finally:
        sharded.close()
    single = VLLMGenerator(path, seed=0, memory_share=0.3)
    try:
        alone = [o[0].text for o in single.generate(prompts, GREEDY)]
    finally:
        single.close()
    assert merged == alone
