"""GPU paths: run only where vLLM and a CUDA device are present (`pytest -m gpu`); see scripts/gpu_smoke.sh."""

import pytest

pytestmark = pytest.mark.gpu


def test_vllm_generator_on_the_embedded_model():
    torch = pytest.importorskip("torch")
    pytest.importorskip("vllm")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from rzero.domains.arithmetic import ArithmeticDomain
    from rzero.generation import Sampling, VLLMGenerator, embedded_base_path

    domain = ArithmeticDomain()
    generator = VLLMGenerator(embedded_base_path(), seed=0, gpu_memory_utilization=0.2)
    easy = [p for p in domain.heldout() if p.difficulty == 1][:16]
    out = generator.generate([domain.solver_prompt(p.question) for p in easy], Sampling(2, 0.0, 1.0, 64))
    right = sum(
        domain.equivalent(domain.extract_answer(o[0].text) or "", p.answer) for p, o in zip(easy, out, strict=True)
    )
    assert right >= 14 and all(len(o) == 2 for o in out)
