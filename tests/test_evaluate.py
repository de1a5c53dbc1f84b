"""Evaluation figures on a scripted generator whose answers are known in advance."""

import pytest

from rzero.core.domains import Problem
from rzero.core.domains.arithmetic import ArithmeticDomain
from rzero.engines.generation import ScriptedGenerator
from rzero.stages.evaluate import question_validity, score_problems, summarize

D = ArithmeticDomain()
PROBLEMS = [Problem("1+1", "2", 1), Problem("2*3+1", "7", 2), Problem("9-9-9", "-9", 2)]


def script(prompt, i):
    """Greedy and sampled calls both come here; sample i of each problem answers as listed."""
    answers = {
        "1+1": ["2"] * 10,  # always right
        "2*3+1": ["7", "7", "7", "7", "8", "8", "9", None, None, None],  # right 4/10, majority right
        "9-9-9": ["-8", "-8", "-8", "-8", "-7", "-7", "-8", "-9", "-9", "x"],  # right 2/10, majority wrong
    }
    if prompt == D.challenger_prompt():
        return ["<question>1+2</question>", "<question>1+</question>", "<question>3*4-5</question>", "junk"][i % 4]
    question = prompt.split("\n")[0][len("Problem: ") :]
    answer = answers[question][i]
    return "no box" if answer is None else f"work\n\\boxed{{{answer}}}"


def test_score_and_summarize():
    results = score_problems(ScriptedGenerator(script), D, PROBLEMS, votes_per_question=10)
    assert [r.greedy_correct for r in results] == [True, True, False]  # greedy = sample 0 of the script
    assert [r.p_hat for r in results] == [1.0, 0.4, 0.5]
    assert [r.majority_correct for r in results] == [True, True, False]
    assert results[1].sampled_answers.count(None) == 3
    fig = summarize(results)
    assert fig.greedy_accuracy == pytest.approx(2 / 3)
    assert fig.pass1_accuracy == pytest.approx((10 + 4 + 2) / 30)
    assert fig.majority_accuracy == pytest.approx(2 / 3)
    assert fig.band_fraction == pytest.approx(2 / 3)  # p_hat 0.4 and 0.5 are in the paper's band, 1.0 is not
    assert summarize(results, band_delta=0.05).band_fraction == pytest.approx(1 / 3)
    assert fig.band_majority_accuracy == pytest.approx(1 / 2)  # of the two in the band, 2*3+1's majority is right
    assert summarize(results[:1]).band_majority_accuracy is None  # nothing in the band
    assert fig.accuracy_by_difficulty == {"1": 1.0, "2": 0.5}
    data = fig.model_dump()  # the JSON key names the k of maj@k, as results files always had it
    assert data["maj10_accuracy"] == pytest.approx(2 / 3) and "majority_accuracy" not in data


def test_summarize_without_samples():
    results = score_problems(ScriptedGenerator(script), D, PROBLEMS, votes_per_question=0)
    fig = summarize(results)
    assert fig.pass1_accuracy is None and fig.greedy_accuracy == pytest.approx(2 / 3)
    assert set(fig.model_dump()) == {
        "problems",
        "greedy_accuracy",
        "accuracy_by_difficulty",
        "worked_share_by_difficulty",
        "worked_accuracy_by_difficulty",
    }


def test_question_validity():
    fig = question_validity(ScriptedGenerator(script), D, samples=8)
    assert fig.question_validity == 0.5
    assert fig.distinct_questions == 2
    assert fig.difficulty_histogram == {"1": 2, "2": 2}


def test_spread_subset_takes_every_level():
    from rzero.stages.evaluate import spread_subset

    heldout = D.heldout()
    subset = spread_subset(heldout, 32)
    assert len(subset) == 32 and len(set(subset)) == 32
    assert {p.difficulty for p in subset} == {p.difficulty for p in heldout}
    assert spread_subset(heldout, 0) == heldout and spread_subset(heldout, 10_000) == heldout


def test_evaluate_model_uses_the_subset_and_checks_the_curriculum():
    from rzero.config.schema import EvalConfig
    from rzero.core.records import CurriculumRow
    from rzero.stages.evaluate import evaluate_model

    def solve(prompt, i):
        question = prompt.split("\n")[0].removeprefix("Problem: ")
        return "\\boxed{" + D.oracle(question) + "}"

    def row(question, label, truth):
        return CurriculumRow(
            question=question,
            difficulty=1,
            answers=[label],
            pseudo_label=label,
            p_hat=1.0,
            group_sizes=[1],
            in_band=True,
            oracle_answer=truth,
            pseudo_label_correct=label == truth,
        )

    cfg = EvalConfig(problems=16, max_new_tokens=8)
    curriculum = [row("1+1", "2", "2"), row("2*3", "5", "6")]
    metrics = evaluate_model(ScriptedGenerator(solve), D, cfg, curriculum)
    assert metrics.heldout.problems == 16 and metrics.greedy_accuracy == 1.0
    assert metrics.pseudo_label_accuracy == 0.5
    assert metrics.accuracy_on_own_curriculum == 1.0  # scored against the oracle, not the pseudo-label
    assert metrics.validity is None  # eval.challenger_samples = 0: no Challenger samples drawn


def test_question_validity_samples_the_challenger_when_asked():
    from rzero.config.schema import EvalConfig
    from rzero.stages.evaluate import evaluate_model

    solver, challenger = ScriptedGenerator(lambda prompt, i: "\\boxed{0}"), ScriptedGenerator(script)
    cfg = EvalConfig(problems=3, max_new_tokens=8, challenger_samples=8)
    metrics = evaluate_model(solver, D, cfg, [], challenger=challenger, challenger_max_new_tokens=48)
    assert metrics.validity.question_validity == 0.5 and metrics.validity.challenger_samples == 8
    assert [sampling.max_new_tokens for _, sampling in challenger.calls] == [48]
    assert all(prompt != D.challenger_prompt() for prompts, _ in solver.calls for prompt in prompts)
    data = metrics.model_dump()
    assert data["question_validity"] == 0.5 and data["difficulty_histogram"] == {"1": 2, "2": 2}


def test_heldout_file_replaces_the_domains_set(tmp_path):
    """eval.heldout_file: the stage scores exactly the file's problems, by level, and keeps the greedy text."""
    import json

    from rzero.config.schema import EvalConfig
    from rzero.core.domains.arithmetic import make_heldout
    from rzero.core.rundir import read_jsonl
    from rzero.stages.evaluate import evaluate_model

    problems = make_heldout(seed=3, per_level=2, levels=(9, 10), operators=("+", "-"))
    path = tmp_path / "heldout.jsonl"
    path.write_text("".join(json.dumps(p.__dict__) + "\n" for p in problems))

    def solve(prompt, i):  # right at level 9, wrong at level 10
        question = prompt.split("\n")[0].removeprefix("Problem: ")
        answer = int(D.oracle(question)) + (D.difficulty(question) == 10)
        return "\\boxed{" + str(answer) + "}"

    cfg = EvalConfig(heldout_file=str(path), max_new_tokens=8)
    metrics = evaluate_model(ScriptedGenerator(solve), D, cfg, [], folder=tmp_path)
    assert metrics.heldout.problems == 4 and metrics.greedy_accuracy == 0.5
    assert metrics.heldout.accuracy_by_difficulty == {"9": 1.0, "10": 0.0}
    assert [r["question"] for r in read_jsonl(tmp_path / "results.jsonl")] == [p.question for p in problems]


def test_load_problems_names_the_file_and_line(tmp_path):
    from rzero.core.domains import load_problems

    path = tmp_path / "h.jsonl"
    path.write_text('{"question": "1+2", "answer": "3", "difficulty": 1}\n{"question": "1+2", "answer": "3"}\n')
    with pytest.raises(ValueError, match=r"h.jsonl:2: expected JSON with question, answer and integer difficulty"):
        load_problems(path)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no held-out problems"):
        load_problems(tmp_path / "empty.jsonl")


def test_math_benchmarks_in_the_evaluation_stage(tmp_path):
    """The math domain end to end through evaluation: benchmark files, prompts, extraction, equivalence."""
    import json

    from rzero.config.schema import EvalConfig
    from rzero.core.domains.math import MathDomain
    from rzero.engines.generation import ScriptedGenerator
    from rzero.stages.evaluate import evaluate_model

    data = tmp_path / "data"
    (data / "gsm8k").mkdir(parents=True)
    (data / "aime24").mkdir()
    (data / "gsm8k" / "test.jsonl").write_text(
        "".join(json.dumps({"question": f"What is {i}+1?", "answer": f"so #### {i + 1}"}) + "\n" for i in range(4))
    )
    (data / "aime24" / "test.jsonl").write_text(json.dumps({"problem": "Find 2*3.", "answer": "6"}) + "\n")

    def script(prompt, index):  # right on gsm8k items 0 and 1, wrong elsewhere
        if "What is 0+1" in prompt or "What is 1+1" in prompt:
            return f"... \\boxed{{{int(prompt.split('What is ')[1].split('+')[0]) + 1}}}"
        return "\\boxed{41}"

    cfg = EvalConfig(benchmarks="gsm8k,aime24", data_dir=str(data), max_new_tokens=16)
    metrics = evaluate_model(ScriptedGenerator(script), MathDomain(), cfg, [])
    assert metrics.benchmarks["gsm8k"].greedy_accuracy == 0.5
    assert metrics.benchmarks["aime24"].greedy_accuracy == 0.0
    assert metrics.benchmark_average == metrics.greedy_accuracy == 0.25
    assert metrics.heldout is None  # the math domain has no held-out set of its own
    data = metrics.model_dump()  # as summary.json holds it: greedy_accuracy is the benchmark average
    assert data["greedy_accuracy"] == 0.25 and data["benchmarks"]["gsm8k"]["rows_without_gold"] == 0
    from rzero.core.records import EvaluateMetrics, from_json

    assert from_json(EvaluateMetrics, data) == metrics


def test_habit_and_skill_split_accuracy_by_whether_the_answer_works_it_out():
    """Hand-made vectors: per level, the share of answers that work the problem out and their accuracy."""
    from rzero.stages.evaluate import work_by_difficulty

    habit, skill = work_by_difficulty(
        [(1, True, True), (1, True, False), (1, False, False), (1, False, True), (2, False, False), (3, True, True)]
    )
    assert habit == {"1": 0.5, "2": 0.0, "3": 1.0}
    assert skill == {"1": 0.5, "2": None, "3": 1.0}


def test_summarize_reports_habit_and_skill_of_greedy_and_sampled_answers():
    def hasty_or_worked(prompt, i):
        question = prompt.split("\n")[0][len("Problem: ") :]
        if question == "1+1":  # greedy (i = 0) works it out and is right; samples: hasty and wrong at odd i
            return "1+1=2\n\\boxed{2}" if i % 2 == 0 else "\\boxed{5}"
        return "\\boxed{7}" if i == 0 else "2*3=6;6+1\n6+1=7\n\\boxed{8}"  # hasty right greedy; worked wrong

    results = score_problems(ScriptedGenerator(hasty_or_worked), D, PROBLEMS[:2], votes_per_question=4)
    assert [r.greedy_worked for r in results] == [True, False]
    assert results[0].sampled_worked == (True, False, True, False)
    fig = summarize(results)
    assert fig.worked_share_by_difficulty == {"1": 1.0, "2": 0.0}
    assert fig.worked_accuracy_by_difficulty == {"1": 1.0, "2": None}
    assert fig.sampled_worked_share_by_difficulty == {"1": 0.5, "2": 0.75}
    assert fig.sampled_worked_accuracy_by_difficulty == {"1": 1.0, "2": 0.0}
    from rzero.core.records import Figures, from_json

    assert from_json(Figures, fig.model_dump()) == fig
