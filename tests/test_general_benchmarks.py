"""General-reasoning scorers (letters, exact match) and the benchmark loaders on hand-made files:
AIME25, MMLU-Pro, SuperGPQA, BBEH, the Hub fallback, and the paper's per-suite averages."""

import json
import sys
import types

import pytest

from rzero.config.schema import EvalConfig
from rzero.core.domains.general import ExactMatch, MultipleChoice, choice_letter, format_choices, normalize_exact
from rzero.core.evalsets import load_benchmark, read_rows, scorer_for
from rzero.engines.generation import ScriptedGenerator
from rzero.stages.evaluate import benchmark_figures, score_problems


@pytest.mark.parametrize(
    "text, letter",
    [
        ("so \\boxed{C}", "C"),
        ("\\boxed{(B)}", "B"),
        ("\\boxed{D. 42 kelvin}", "D"),
        ("\\boxed{\\text{A}}", "A"),
        ("\\boxed{J}", "J"),
        ("The answer is (E).", "E"),
        ("Answer: b", "B"),
        ("\\boxed{42}", None),  # a value, not a letter: missing, never a guessed letter
        ("\\boxed{Apple}", None),
        ("\\boxed{K}", None),  # beyond the ten options
        ("I think it is probably the second one", None),
        ("", None),
    ],
)
def test_choice_letter(text, letter):
    assert choice_letter(text) == letter


def test_multiple_choice_prompt_and_equivalence():
    question = format_choices("Which is prime?", ["4", "6", "7"])
    assert question == "Which is prime?\nA. 4\nB. 6\nC. 7"
    scorer = MultipleChoice()
    assert "\\boxed{}" in scorer.solver_prompt(question) and scorer.solver_prompt(question).startswith(question)
    assert scorer.equivalent("c", "C") and not scorer.equivalent("C", "D")
    with pytest.raises(ValueError, match="11 options"):
        format_choices("q", [str(i) for i in range(11)])


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("True", "true", True),
        ('"valid"', "valid", True),
        ("(A)", "a", True),
        ("\\text{No}", "no", True),
        ("3, 5,  7.", "3, 5, 7", True),
        ("yes", "no", False),
        ("12", "12.5", False),
    ],
)
def test_exact_match(a, b, same):
    assert ExactMatch().equivalent(a, b) is same
    assert normalize_exact(a) == normalize_exact(a.strip())


def test_exact_match_extraction():
    scorer = ExactMatch()
    assert scorer.extract_answer("work\n\\boxed{invalid}") == "invalid"
    assert scorer.extract_answer("so the final answer is: 7") == "7"
    assert scorer.extract_answer("no conclusion") is None


def write(folder, name, rows):
    (folder / name).mkdir(parents=True)
    (folder / name / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture()
def data_dir(tmp_path):
    write(tmp_path, "aime25", [{"problem": "Find 2+2.", "answer": 4}, {"problem": "Find 10/4.", "answer": "5/2"}])
    write(
        tmp_path,
        "mmlu_pro",
        [
            {"question": "Capital of France?", "options": ["Rome", "Paris"], "answer": "B", "answer_index": 1},
            {"question": "2+2?", "options": ["4", "5", "6"], "answer_index": 0},
            {"question": "No gold", "options": ["x", "y"], "answer": "maybe"},
        ],
    )
    write(tmp_path, "supergpqa", [{"question": "Largest?", "options": ["1", "9"], "answer": "9", "answer_letter": "B"}])
    write(tmp_path, "bbeh", [{"input": "Is 7 prime?", "target": "Yes"}, {"input": "Sort b a", "target": "a b"}])
    return tmp_path


def test_loaders_read_every_format(data_dir):
    aime, _, missing = load_benchmark("aime25", data_dir)
    assert [(p.question, p.answer) for p in aime] == [("Find 2+2.", "4"), ("Find 10/4.", "5/2")] and not missing
    mmlu, _, missing = load_benchmark("mmlu_pro", data_dir)
    assert [p.answer for p in mmlu] == ["B", "A"] and missing == [2]
    assert mmlu[0].question == "Capital of France?\nA. Rome\nB. Paris"
    assert load_benchmark("supergpqa", data_dir)[0][0].answer == "B"
    assert [p.answer for p in load_benchmark("bbeh", data_dir)[0]] == ["Yes", "a b"]


def gold_replay(problems_by_prompt):
    return ScriptedGenerator(lambda prompt, i: f"reasoning...\n\\boxed{{{problems_by_prompt[prompt]}}}")


def test_gold_replay_scores_every_suite_fully_and_averages_as_the_paper(data_dir):
    from rzero.core.domains.math import MathDomain

    math = MathDomain()
    cfg = EvalConfig(benchmarks="aime25,mmlu_pro,supergpqa,bbeh", data_dir=str(data_dir))
    replay = {}
    for name in ("aime25", "mmlu_pro", "supergpqa", "bbeh"):
        scorer = scorer_for(name, math)
        replay.update({scorer.solver_prompt(p.question): p.answer for p in load_benchmark(name, data_dir)[0]})
    generator = gold_replay(replay)
    figures = benchmark_figures(lambda problems, scorer: score_problems(generator, scorer, problems, 0), math, cfg)
    assert {n: f.greedy_accuracy for n, f in figures.benchmarks.items()} == {
        "aime25": 1.0,
        "mmlu_pro": 1.0,
        "supergpqa": 1.0,
        "bbeh": 1.0,
    }
    assert figures.benchmarks["mmlu_pro"].rows_without_gold == 1
    assert figures.math_average == 1.0 and figures.general_average == 1.0

    wrong = ScriptedGenerator(lambda prompt, i: "I am not sure.")  # no letter: wrong, not a random guess
    figures = benchmark_figures(lambda problems, scorer: score_problems(wrong, scorer, problems, 0), math, cfg)
    assert figures.benchmark_average == 0.0


def test_hub_fallback_only_when_online(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE is set"):
        read_rows("aime25", tmp_path)
    asked = []

    def load_dataset(repo, configuration, split):
        asked.append((repo, configuration, split))
        return [{"problem": "Find 1+1.", "answer": "2"}]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    problems, _, _ = load_benchmark("aime25", tmp_path)
    assert asked == [("math-ai/aime25", None, "test")] and problems[0].answer == "2"


def test_eval_command_on_benchmarks(tiny_model_dir, data_dir, tmp_path, capsys):
    from rzero.cli import main

    out = tmp_path / "figures.json"
    common = ["eval", "domain=math", f"model.path={tiny_model_dir}", "eval.max_new_tokens=4", "model.threads=1"]
    assert main(common) == 2 and "set eval.benchmarks" in capsys.readouterr().err
    assert main([*common, "eval.benchmarks=aime25,bbeh", f"eval.data_dir={data_dir}", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert set(figures["benchmarks"]) == {"aime25", "bbeh"} and figures["benchmarks"]["aime25"]["problems"] == 2
    assert figures["math_average"] == figures["benchmarks"]["aime25"]["greedy_accuracy"]
    assert "per benchmark" in capsys.readouterr().out
    assert main([*common, "eval.benchmarks=aime24", f"eval.data_dir={data_dir}"]) == 2
    assert "aime24/test.jsonl does not exist" in capsys.readouterr().err
