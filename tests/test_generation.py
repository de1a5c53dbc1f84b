"""Generators: the scripted fake and the Hugging Face backend on a tiny model."""

import pytest

from rzero.core.sampling import GREEDY, Sampling
from rzero.engines.generation import HFGenerator, ScriptedGenerator


def test_sampling_validation_names_the_field():
    for kwargs, field in [
        ({"samples_per_prompt": 0}, "samples_per_prompt"),
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
    ]:
        with pytest.raises(ValueError, match=field):
            Sampling(**kwargs)


def test_scripted_generator_shapes_and_record():
    gen = ScriptedGenerator(lambda prompt, i: f"{prompt}:{i}")
    out = gen.generate(["a", "b"], Sampling(samples_per_prompt=3))
    assert [[c.text for c in row] for row in out] == [["a:0", "a:1", "a:2"], ["b:0", "b:1", "b:2"]]
    assert gen.calls[0][0] == ["a", "b"]


def test_hf_generator_shapes_lengths_and_seed(tiny_model_dir):
    gen = HFGenerator.from_pretrained(tiny_model_dir, sequences_per_batch=4, seed=1)
    prompts = ["Problem: 1 + 2\nSolution:\n", "Pose a new arithmetic problem.\n", "x"]
    out = gen.generate(prompts, Sampling(samples_per_prompt=3, temperature=1.0, max_new_tokens=7))
    assert len(out) == 3 and all(len(row) == 3 for row in out)
    for row in out:
        for c in row:
            assert 1 <= c.tokens <= 7 and c.finished == (c.tokens < 7 or c.finished)
            assert "<|pad|>" not in c.text and "<|endoftext|>" not in c.text
    texts = [[c.text for c in r] for r in out]
    same_seed = HFGenerator.from_pretrained(tiny_model_dir, sequences_per_batch=4, seed=1)
    assert [[c.text for c in r] for r in same_seed.generate(prompts, Sampling(3, 1.0, 1.0, 7))] == texts
    other_seed = HFGenerator.from_pretrained(tiny_model_dir, sequences_per_batch=4, seed=2)
    assert [[c.text for c in r] for r in other_seed.generate(prompts, Sampling(3, 1.0, 1.0, 7))] != texts


def test_hf_generator_greedy_is_batch_independent(tiny_model_dir):
    """Left padding must not change greedy outputs: one prompt alone or in a mixed batch."""
    gen = HFGenerator.from_pretrained(tiny_model_dir, sequences_per_batch=8)
    prompts = ["Problem: 1 + 2\nSolution:\n", "Problem: 12 * 3 - 4 + 5\nSolution:\n"]
    batched = gen.generate(prompts, Sampling(1, 0.0, 1.0, 12))
    alone = [gen.generate([p], Sampling(1, 0.0, 1.0, 12))[0] for p in prompts]
    assert [r[0].text for r in batched] == [r[0].text for r in alone]
    assert GREEDY.temperature == 0.0


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        HFGenerator.from_pretrained(tmp_path)
