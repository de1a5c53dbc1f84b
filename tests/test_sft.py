"""`rzero sft`: the labelled set, its file format and one real fine-tuning phase on a tiny model."""

import json

import pytest
import torch

from rzero.core.domains.arithmetic import ArithmeticDomain, evaluate
from rzero.engines.sft import SFTSettings, fine_tune, labelled_rows, read_labelled_file


def test_labelled_examples_are_oracle_solutions_outside_the_heldout_set():
    domain = ArithmeticDomain()
    pairs = domain.labelled_examples(200, seed=3)
    held = {p.question for p in domain.heldout()}
    assert len(pairs) == 200 and len({q for q, _ in pairs}) == 200
    assert not held & {q for q, _ in pairs}
    for question, solution in pairs:
        assert solution.rstrip().endswith(f"\\boxed{{{evaluate(question)}}}")
    levels = {domain.difficulty(q) for q, _ in pairs}
    assert levels == set(range(1, 9))
    assert domain.labelled_examples(200, seed=3) == pairs
    assert domain.labelled_examples(200, seed=4) != pairs


def test_labelled_file_errors_name_the_line(tmp_path):
    domain = ArithmeticDomain()
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"question": "1+2", "solution": "1+2=3\n\\boxed{3}"}) + "\n\n")
    assert read_labelled_file(good, domain) == [
        {"prompt": domain.solver_prompt("1+2"), "completion": "1+2=3\n\\boxed{3}"}
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "1+2", "solution": "x"}) + "\n" + json.dumps({"question": "1"}) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        read_labelled_file(bad, domain)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="no labelled rows"):
        read_labelled_file(empty, domain)


def test_settings_reject_impossible_values():
    with pytest.raises(ValueError, match="epochs"):
        SFTSettings(epochs=0)
    with pytest.raises(ValueError, match="learning_rate"):
        SFTSettings(learning_rate=2.0)


def test_fine_tune_lowers_the_loss_on_the_completions(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    domain = ArithmeticDomain()
    rows = labelled_rows(domain, 48, seed=0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)

    def completion_loss(model_dir):
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        losses = []
        with torch.no_grad():
            for row in rows[:16]:
                prompt = tokenizer(row["prompt"])["input_ids"]
                ids = tokenizer(row["prompt"] + row["completion"])["input_ids"]
                labels = [-100] * len(prompt) + ids[len(prompt) :]
                out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
                losses.append(out.loss.item())
        return sum(losses) / len(losses)

    figures = fine_tune(tiny_model_dir, rows, SFTSettings(epochs=2, examples_per_step=8, learning_rate=3e-3), tmp_path)
    assert figures["examples"] == 48 and figures["optimizer_steps"] == 12
    assert (tmp_path / "model" / "model.safetensors").exists() and (tmp_path / "sft.json").exists()
    assert not (tmp_path / "trainer").exists()
    assert completion_loss(tmp_path / "model") < completion_loss(tiny_model_dir) - 0.2
