"""Pretraining pieces: corpus, batches, schedule, determinism for a seed, model card."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rzero.base_model.modelcard import write_model_card
from rzero.base_model.pretrain import PretrainConfig, corpus_documents, learning_rate, token_batches, train
from rzero.core.domains.arithmetic import ArithmeticDomain

TINY = dict(
    documents=600,
    hidden_size=32,
    intermediate_size=64,
    layers=2,
    attention_heads=2,
    tokens_per_step=1024,
    steps=4,
    warmup_steps=2,
    threads=1,
)


def test_corpus_mixes_roles_and_excludes_heldout():
    d = ArithmeticDomain()
    heldout = {p.question for p in d.heldout()}
    weights = {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}
    cfg = PretrainConfig(documents=3000, seed=3, level_weights=weights, worked_fraction={})
    docs = corpus_documents(cfg, exclude=heldout)
    posing = [x for x in docs if x.startswith(d.challenger_prompt())]
    solving = [x for x in docs if x.startswith("Problem: ")]
    assert len(posing) + len(solving) == len(docs) == 3000
    assert 0.17 < len(posing) / len(docs) < 0.23  # posing_fraction 0.2
    questions = {d.parse_question(x) for x in posing} | {x.split("\n")[0][len("Problem: ") :] for x in solving}
    assert not questions & heldout
    assert {d.difficulty(q) for q in questions} == set(weights)
    wrong = [x for x in solving if d.extract_answer(x) != d.oracle(x.split("\n")[0][len("Problem: ") :])]
    assert 0.02 < len(wrong) / len(solving) < 0.09  # slip_fraction 0.05 (a slip can cancel out: rarely)
    exact = corpus_documents(PretrainConfig(documents=500, seed=3, slip_fraction=0.0), exclude=heldout)
    for doc in (x for x in exact if x.startswith("Problem: ")):
        assert d.extract_answer(doc) == d.oracle(doc.split("\n")[0][len("Problem: ") :])


def _question_of(doc: str) -> str:
    return doc.split("\n")[0][len("Problem: ") :]


def test_worked_fraction_posing_weights_and_operators_shape_the_corpus():
    d = ArithmeticDomain()
    cfg = PretrainConfig(
        documents=4000,
        seed=5,
        operators=("+", "-"),
        level_weights={2: 1.0, 6: 1.0},
        worked_fraction={6: 0.25},
        posing_level_weights={2: 1.0},
    )
    docs = corpus_documents(cfg, exclude=set())
    posing = [d.parse_question(x) for x in docs if x.startswith(d.challenger_prompt())]
    solving = [x for x in docs if x.startswith("Problem: ")]
    assert {d.difficulty(q) for q in posing} == {2}  # posing draws its own weights
    assert not any("*" in x for x in docs)
    hasty = {2: 0, 6: 0}
    total = {2: 0, 6: 0}
    for doc in solving:
        level = d.difficulty(_question_of(doc))
        total[level] += 1
        if doc == d.answer_only_document(_question_of(doc)):  # exact: answer-only documents never slip
            hasty[level] += 1
    assert hasty[2] == 0  # levels not listed: always worked
    assert 0.68 < hasty[6] / total[6] < 0.82  # 1 - 0.25 answer alone


def test_answer_only_document_is_the_prompt_and_the_boxed_value():
    d = ArithmeticDomain()
    doc = d.answer_only_document("7-3+4")
    assert doc == d.solver_prompt("7-3+4") + "\\boxed{8}"
    assert d.extract_answer(doc) == "8"


def test_a_slip_is_carried_through_consistently():
    from rzero.core.domains.arithmetic import worked_solution

    assert worked_solution("7+3*4-5", (0, 1)) == "3*4=13;7+13-5\n7+13=20;20-5\n20-5=15\n\\boxed{15}"
    assert worked_solution("7+3*4-5", (2, -10)).endswith("19-5=4\n\\boxed{4}")
    assert worked_solution("7+3*4-5") == worked_solution("7+3*4-5", None)


@pytest.mark.parametrize(
    "field, value",
    [
        ("level_weights", {99: 1.0}),
        ("posing_level_weights", {0: 1.0}),
        ("worked_fraction", {3: 1.5}),
        ("worked_fraction", {42: 0.5}),
        ("operators", ("+", "/")),
        ("operators", ()),
        ("solution_style", "prose"),
    ],
)
def test_config_rejects_bad_recipe_fields(field, value):
    with pytest.raises(ValueError, match=field):
        PretrainConfig(**{field: value})  # type: ignore[arg-type]


def test_token_batches_respect_budget_and_cover_every_document():
    ids = [[1] * n for n in [3, 9, 4, 7, 7, 2, 8, 5]]
    batches = token_batches(ids, tokens_per_step=16, pad_id=0, seed=0)
    assert sum(b.shape[0] for b in batches) == len(ids)
    assert all(b.numel() <= 16 or b.shape[0] == 1 for b in batches)
    assert sorted(int((b != 0).sum()) for b in batches) and sum(int((b != 0).sum()) for b in batches) == 45


def test_schedule_warms_up_then_decays():
    cfg = PretrainConfig(steps=100, warmup_steps=10, learning_rate=1e-3, min_learning_rate=1e-4)
    assert learning_rate(cfg, 0) == pytest.approx(1e-4)
    assert learning_rate(cfg, 9) == pytest.approx(1e-3)
    assert learning_rate(cfg, 99) == pytest.approx(1e-4, rel=1e-2)
    values = [learning_rate(cfg, s) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_pretraining_is_deterministic_for_a_seed(tmp_path):
    a = train(PretrainConfig(**TINY), tmp_path / "a", log_every=0)
    b = train(PretrainConfig(**TINY), tmp_path / "b", log_every=0)
    train(PretrainConfig(**TINY, seed=1), tmp_path / "c", log_every=0)
    wa, wb, wc = (load_file(tmp_path / x / "model.safetensors") for x in "abc")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)
    assert a["final_loss"] == b["final_loss"]
    assert (tmp_path / "a" / "tokenizer.json").read_text() == (tmp_path / "b" / "tokenizer.json").read_text()


def test_model_card_records_recipe_and_figures(tmp_path):
    train(PretrainConfig(**TINY), tmp_path, log_every=0)
    figures = {
        "greedy_accuracy": 0.5,
        "pass1_accuracy": 0.4,
        "maj10_accuracy": 0.55,
        "band_fraction": 0.3,
        "question_validity": 0.95,
        "accuracy_by_difficulty": {"1": 0.9, "2": 0.1},
        "heldout_problems": 512,
        "votes_per_question": 10,
        "challenger_samples": 500,
    }
    card = write_model_card(tmp_path, figures).read_text()
    record = json.loads((tmp_path / "pretrain_record.json").read_text())
    assert f"{record['parameters']:,} parameters" in card
    assert "| maj10_accuracy | 0.550 |" in card and '"band_fraction": 0.3' in card


def test_recipe_file_reproduces_the_issue_13_candidate(tmp_path):
    from rzero.base_model.pretrain import load_recipe

    recipe = Path(__file__).parents[1] / "configs" / "pretrain" / "elicitation_c1.json"
    [cfg] = load_recipe(recipe, seed=4)
    assert cfg.operators == ("+", "-") and cfg.seed == 4 and cfg.rope_theta == 1e9
    assert cfg.worked_fraction[10] == 0.3 and cfg.posing_level_weights[1] == 2.0
    [d4] = load_recipe(recipe.with_name("elicitation_d4.json"))
    assert d4.heldout_levels == tuple(range(1, 9)) and d4.rope_theta == 10000.0 and d4.operators == ("+", "-")
    bad = tmp_path / "bad.json"
    bad.write_text('{"worked_fraction": {"3": 1.5}}')
    with pytest.raises(ValueError, match=r"bad.json.*worked_fraction"):
        load_recipe(bad)
    bad.write_text('{"levels": {"3": 1}}')
    with pytest.raises(ValueError, match=r"unknown fields \['levels'\]"):
        load_recipe(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        load_recipe(bad)


def test_a_recipes_own_heldout_set_never_reaches_the_corpus():
    from rzero.base_model.pretrain import excluded_questions
    from rzero.core.domains.arithmetic import make_heldout

    shipped = {p.question for p in ArithmeticDomain().heldout()}
    assert excluded_questions(PretrainConfig()) == shipped
    cfg = PretrainConfig(operators=("+", "-"), heldout_levels=(1, 2), level_weights={1: 1.0, 2: 1.0}, documents=4000)
    own = {p.question for p in make_heldout(levels=(1, 2), operators=("+", "-"))}
    assert excluded_questions(cfg) == shipped | own
    asked = {d.split("Problem: ")[1].split("\n")[0] for d in corpus_documents(cfg, exclude=set()) if "Problem: " in d}
    assert asked & own  # level 1 and 2 are small spaces: without the exclusion the corpus would use them
    kept = corpus_documents(cfg, exclude=excluded_questions(cfg))
    assert not {d.split("Problem: ")[1].split("\n")[0] for d in kept if "Problem: " in d} & own
    with pytest.raises(ValueError, match="heldout_levels"):
        PretrainConfig(heldout_levels=(0,))


def test_pretrain_cli_rejects_a_bad_recipe_before_any_work(tmp_path, capsys):
    from rzero.cli import main

    bad = tmp_path / "recipe.json"
    bad.write_text('{"operators": ["+", "/"]}')
    out = tmp_path / "model"
    assert main(["pretrain-base", "--out", str(out), "--recipe", str(bad)]) == 2
    assert "operators" in capsys.readouterr().err and not out.exists()


def test_default_recipe_corpus_is_the_shipped_models():
    """The recipe fields added for issue 13 leave the default random stream untouched: the first 3,000
    documents hash as they did before issue 13 (the code that pretrained the shipped base model)."""
    import hashlib

    heldout = {p.question for p in ArithmeticDomain().heldout()}
    text = "\n".join(corpus_documents(PretrainConfig(documents=3000), exclude=heldout))
    assert hashlib.sha256(text.encode()).hexdigest().startswith("eca220eb5dd5f809dbe9106f25312e38")


def test_openers_and_scattered_hasty_answers_shape_the_corpus():
    """Issue 21's recipe fields: each worked solution opens with one of the openers; an answer-only
    document boxes the value of another problem of its level, not its own."""
    from rzero.core.domains.arithmetic import evaluate

    openers = ("Work:", "Steps:")
    cfg = PretrainConfig(
        documents=4000, seed=5, worked_fraction={3: 0.5}, hasty_answers="scattered", worked_openers=openers
    )
    solving = [d for d in corpus_documents(cfg, exclude=set()) if d.startswith("Problem: ")]
    hasty = [d for d in solving if d.split("Solution:\n")[1].startswith("\\boxed")]
    worked = [d for d in solving if d not in hasty]
    assert {d.split("Solution:\n")[1].split("\n")[0] for d in worked} == set(openers)
    questions = [d.split("Problem: ")[1].split("\n")[0] for d in hasty]
    assert all(ArithmeticDomain().difficulty(q) == 3 for q in questions) and len(hasty) > 100
    right = sum(d.endswith(f"{{{evaluate(q)}}}") for d, q in zip(hasty, questions, strict=True))
    assert right < 0.2 * len(hasty)  # scattered: a guess, right only by chance
    exact = PretrainConfig(documents=4000, seed=5, worked_fraction={3: 0.5})
    hasty = [d for d in corpus_documents(exact, exclude=set()) if "Solution:\n\\boxed" in d]
    assert all(d.endswith(f"{{{evaluate(d.split('Problem: ')[1].split(chr(10))[0])}}}") for d in hasty)
    for bad in ({"worked_openers": ("two\nlines",)}, {"worked_openers": ("",)}, {"hasty_answers": "near"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            PretrainConfig(**bad)


def test_a_two_phase_recipe_continues_the_first_phases_model(tmp_path):
    """Phase 2 starts from phase 1's weights and tokenizer: the result equals training phase 1, then
    continuing its model with --init; the record keeps both phases and the starting weights' hash."""
    from rzero.base_model.pretrain import file_sha256, load_recipe, pretrain

    second = {**TINY, "seed": 1, "steps": 3, "worked_openers": ["Work:"], "hasty_answers": "scattered"}
    recipe = tmp_path / "two.json"
    recipe.write_text(json.dumps({"phases": [TINY, {**second, "worked_fraction": {"2": 0.5}}]}))
    phases = load_recipe(recipe)
    assert len(phases) == 2 and phases[1].worked_openers == ("Work:",) and phases[1].worked_fraction == {2: 0.5}
    record = pretrain(phases, tmp_path / "both", log_every=0)
    train(phases[0], tmp_path / "first", log_every=0)
    train(phases[1], tmp_path / "then", log_every=0, init=tmp_path / "first")
    both, then = (load_file(tmp_path / x / "model.safetensors") for x in ("both", "then"))
    assert all(torch.equal(both[k], then[k]) for k in both)
    assert [len(r["config"]) > 0 for r in record["phases"]] == [True, True]
    assert record["phases"][1]["init"] == {
        "path": "phase 1",
        "sha256": file_sha256(tmp_path / "first" / "model.safetensors"),
    }
    assert json.loads((tmp_path / "both" / "pretrain_record.json").read_text()) == json.loads(json.dumps(record))
    wide = tmp_path / "wide.json"
    wide.write_text(json.dumps({**TINY, "hidden_size": 64}))
    with pytest.raises(ValueError, match="shape"):
        train(load_recipe(wide)[0], tmp_path / "wide", log_every=0, init=tmp_path / "first")
    for text, message in (('{"phases": []}', "non-empty"), ('{"phases": [{}, {"stepz": 1}]}', "phase 2.*stepz")):
        recipe.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_recipe(recipe)


def test_pretrain_cli_refuses_seed_or_steps_on_a_multi_phase_recipe(tmp_path, capsys):
    from rzero.cli import main

    recipe = tmp_path / "two.json"
    recipe.write_text(json.dumps({"phases": [TINY, TINY]}))
    out = tmp_path / "model"
    assert main(["pretrain-base", "--out", str(out), "--recipe", str(recipe), "--steps", "5"]) == 2
    assert "one-phase" in capsys.readouterr().err and not out.exists()
    assert main(["pretrain-base", "--out", str(out), "--init", str(tmp_path)]) == 2
    assert "--init" in capsys.readouterr().err and not out.exists()


def test_skills_recipes_draw_the_skills_corpus_and_check_family_numbers(tmp_path):
    """domain "skills": family numbers key the level-keyed fields, posing documents follow their own
    weights, hasty documents write the family's hasty word, the skills held-out set never appears."""
    from rzero.base_model.pretrain import excluded_questions, load_recipe
    from rzero.config.load import SHIPPED
    from rzero.core.domains.skills import SkillsDomain

    with pytest.raises(ValueError, match="level_weights.*13"):
        PretrainConfig(domain="skills", level_weights={13: 1.0})
    with pytest.raises(ValueError, match="domain"):
        PretrainConfig(domain="algebra")  # type: ignore[arg-type]
    weights = {n: 1.0 for n in range(1, 13)}
    cfg = PretrainConfig(
        domain="skills", documents=3000, level_weights=weights, posing_level_weights={8: 1.0}, worked_fraction={5: 0.0}
    )
    held = {p.question for p in SkillsDomain().heldout()}
    assert excluded_questions(cfg) == held
    docs = corpus_documents(cfg, excluded_questions(cfg))
    posed = [SkillsDomain().parse_question(d) for d in docs if d.startswith("Pose a new problem.")]
    assert posed and all(q.startswith("rev ") for q in posed)
    assert all("\nlargest \\boxed{" in d for d in docs if d.startswith("Problem: mnx"))
    assert all(d.split("\n")[0][len("Problem: ") :] not in held for d in docs if d.startswith("Problem:"))
    phases = load_recipe(SHIPPED / "pretrain" / "skills.json")
    assert [p.domain for p in phases] == ["skills", "skills"] and phases[1].worked_fraction[5] < 0.5
    record = train(
        PretrainConfig(**{**TINY, "domain": "skills", "level_weights": weights}), tmp_path / "m", log_every=0
    )
    assert record["corpus_documents"] == TINY["documents"]
