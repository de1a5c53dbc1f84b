"""The shipped base model: tokenizer round trip, offline loading, size, easy problems, model card."""

import functools
import json
import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer
from transformers import AutoTokenizer

from rzero.base_model.modelcard import CARD_FIGURES_BEGIN, CARD_FIGURES_END, phase_records
from rzero.core.domains.arithmetic import ArithmeticDomain, level_spec, sample_problem
from rzero.core.sampling import Sampling
from rzero.engines.generation import HFGenerator
from rzero.run.inputs import embedded_base_path

BASE = embedded_base_path()
RESULTS = Path(__file__).parents[1] / "benchmarks" / "results" / "base_model.json"
D = ArithmeticDomain()


@functools.cache
def _tokenizer():
    return AutoTokenizer.from_pretrained(BASE)


@pytest.fixture(scope="module")
def hf_tokenizer():
    return _tokenizer()


@pytest.fixture(scope="module")
def raw_tokenizer():
    return Tokenizer.from_file(str(BASE / "tokenizer.json"))


def _corpus_like_texts():
    import random

    rng = random.Random(7)
    texts = []
    for level in range(1, 9):
        question, _ = sample_problem(rng, level_spec(level))
        texts += [D.posing_document(question), D.solving_document(question)]
    return texts


def test_autotokenizer_gives_the_same_ids_as_the_built_tokenizer(hf_tokenizer, raw_tokenizer):
    for text in _corpus_like_texts():
        assert hf_tokenizer(text)["input_ids"] == raw_tokenizer.encode(text).ids
        assert hf_tokenizer(text)["input_ids"][0] == hf_tokenizer.eos_token_id  # start-of-text mark


def test_tokenizer_round_trip_on_corpus(hf_tokenizer):
    for text in _corpus_like_texts():
        ids = hf_tokenizer(text)["input_ids"]
        assert hf_tokenizer.decode(ids, skip_special_tokens=True) == text
        digits = [t for t in hf_tokenizer.convert_ids_to_tokens(ids) if any(c.isdigit() for c in t)]
        assert all(len(t) == 1 for t in digits), "digits must be single tokens"


@given(st.text(max_size=60))
@settings(max_examples=200, deadline=None)
def test_tokenizer_round_trip_on_any_text(text):
    tok = _tokenizer()
    # the special-token strings themselves are markup, not text: they map to their special ids
    assume(not any(special in text for special in tok.all_special_tokens))
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text


def test_shipped_model_is_small_llama_safetensors():
    config = json.loads((BASE / "config.json").read_text())
    assert config["model_type"] == "llama"
    files = [p for p in BASE.iterdir() if p.is_file()]
    assert (BASE / "model.safetensors").is_file() and not list(BASE.glob("*.bin"))
    assert sum(p.stat().st_size for p in files) <= 20 * 2**20


def test_shipped_model_loads_offline_and_solves_easy_problems(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    gen = HFGenerator.from_pretrained(BASE, seed=0)  # seeded: the samples do not depend on earlier tests
    easy = [p for p in D.heldout() if p.difficulty == 1][:16]
    out = gen.generate([D.solver_prompt(p.question) for p in easy], Sampling(1, 0.0, 1.0, 64))
    right = sum(D.equivalent(D.extract_answer(o[0].text) or "", p.answer) for o, p in zip(out, easy, strict=True))
    assert right >= 12, f"only {right}/16 level-1 problems solved"
    # about 99% of its questions are well-formed (9 ill-formed of 800 over 100 seeds); 3 of 4 is the bar
    posed = gen.generate([D.challenger_prompt()], Sampling(32, 1.0, 1.0, 64))[0]
    well_formed = sum(D.parse_question(c.text) is not None for c in posed)
    assert well_formed >= 24, f"only {well_formed} of 32 sampled questions are well-formed: {[c.text for c in posed]}"


def test_model_card_matches_benchmark_json():
    card = (BASE / "README.md").read_text()
    pattern = re.escape(CARD_FIGURES_BEGIN) + r"\s*```json\n(.*?)```\s*" + re.escape(CARD_FIGURES_END)
    block = re.search(pattern, card, re.S)
    assert block, "model card has no figures block"
    figures = json.loads(block.group(1))
    results = json.loads(RESULTS.read_text())
    for key, value in figures.items():
        assert results[key] == value, key
    record = json.loads((BASE / "pretrain_record.json").read_text())
    assert f"{record['parameters']:,} parameters" in card
    for phase in phase_records(record):
        assert f"seed {phase['config']['seed']}, {phase['config']['steps']} steps" in card


def test_shipped_model_is_what_its_recipe_records():
    """The shipped recipe file and the shipped model's pretraining record agree phase by phase, and the
    record names the weights each continued phase started from."""
    from dataclasses import asdict

    from rzero.base_model.pretrain import EMBEDDED_RECIPE, load_recipe

    record = json.loads((BASE / "pretrain_record.json").read_text())
    phases = phase_records(record)
    recipe = [json.loads(json.dumps(asdict(cfg))) for cfg in load_recipe(EMBEDDED_RECIPE)]
    assert [phase["config"] for phase in phases] == recipe
    assert all("init" in phase for phase in phases[1:]) and "init" not in phases[0]
