"""The arithmetic domain: grammar, oracle, generator, worked solutions, answers."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rzero.core.domains import get_domain, last_boxed
from rzero.core.domains.arithmetic import (
    HELDOUT_LEVELS,
    HELDOUT_PER_LEVEL,
    OPERATORS,
    ArithmeticDomain,
    ParseError,
    Spec,
    evaluate,
    level_spec,
    make_heldout,
    parse_expression,
    parse_integer,
    sample_problem,
    worked_solution,
)

D = ArithmeticDomain()


@pytest.mark.parametrize(
    "question, value",
    [
        ("7 + 3 * 4 - 5", 14),
        ("2 * 3 * 4", 24),
        ("1 - 9 - 8", -16),
        ("9 - 2 * 5", -1),
        ("0 * 7 + 3", 3),
        ("10 - 4 + 2", 8),
        ("6 * 8 * 9 + 2 * 6 - 7 - 6", 431),
        ("999 + 1", 1000),
    ],
)
def test_oracle_hand_made(question, value):
    assert evaluate(question) == value


@pytest.mark.parametrize("level", range(1, 13))
def test_oracle_agrees_with_generator(level):
    """The generator computes answers as a sum of signed products; the oracle reduces the text."""
    rng = random.Random(level)
    for _ in range(300):
        question, answer = sample_problem(rng, level_spec(level))
        assert evaluate(question) == answer
        assert D.difficulty(question) == level
        assert abs(answer) <= level_spec(level).max_abs_value


def test_oracle_agrees_on_every_heldout_problem():
    problems = D.heldout()
    assert len(problems) == len(HELDOUT_LEVELS) * HELDOUT_PER_LEVEL >= 500
    assert len({p.question for p in problems}) == len(problems)
    for p in problems:
        assert D.oracle(p.question) == p.answer
        assert D.difficulty(p.question) == p.difficulty


def test_shipped_heldout_is_the_seeded_one():
    assert make_heldout() == D.heldout()


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "7",
        "7 +",
        "+ 7",
        "7 + + 3",
        "7 / 3",
        "7 ** 3",
        "07 + 1",
        "1000 + 1",
        "3 + x",
        "__import__('os')",
        "1 + 2; print(1)",
        "(1 + 2)",
        "1 +\n2",
        "½ + 1",
        "١ + 2",
        " + ".join(["1"] * 17),
    ],
)
def test_parser_rejects_garbage(garbage):
    with pytest.raises(ParseError):
        parse_expression(garbage)
    assert D.parse_question(f"<question>{garbage}</question>") is None


def test_parser_never_executes_text(monkeypatch):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must never be called on model text")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert D.oracle("__import__('os').system('true')") is None
    assert D.oracle("7 + 3 * 4 - 5") == "14"


@given(st.text(alphabet="0123456789+-* x()/", max_size=40))
@settings(max_examples=300, deadline=None)
def test_parser_total_on_random_text(text):
    """Any text either parses to a canonical question that round-trips, or raises ParseError."""
    try:
        operands, ops = parse_expression(text)
    except ParseError:
        return
    canonical = D.parse_question(f"<question>{text}</question>")
    assert canonical is not None and parse_expression(canonical) == (operands, ops)


def test_parse_question_format_gate():
    assert D.parse_question("<question>3+4 *2</question> and more") == "3+4*2"
    assert D.parse_question("<question>3 + 4 * 2</question>") == "3+4*2"
    assert D.parse_question("3 + 4") is None  # no tags
    assert D.parse_question("<question>3 + 4") is None  # unclosed
    assert D.parse_question("<question></question>") is None


def test_worked_solution_format():
    assert worked_solution("7 + 3 * 4 - 5") == "3*4=12;7+12-5\n7+12=19;19-5\n19-5=14\n\\boxed{14}"
    rng = random.Random(0)
    for level in range(1, 9):
        question, answer = sample_problem(rng, level_spec(level))
        text = worked_solution(question)
        assert text.count("\n") == level  # one line per operation, then the box
        assert D.extract_answer(text) == str(answer)
    running = worked_solution("7 + 3 * 4 - 5", style="running")
    assert running == "3*4=12\n7+12=19\n19-5=14\n\\boxed{14}"  # no rewritten remainder


def test_level_spec_operators():
    rng = random.Random(1)
    plus_minus = [sample_problem(rng, level_spec(5, ("+", "-")))[0] for _ in range(200)]
    assert not any("*" in q for q in plus_minus)
    assert any("*" in sample_problem(rng, level_spec(5, OPERATORS))[0] for _ in range(50))
    assert level_spec(5) == level_spec(5, OPERATORS)
    wide = make_heldout(per_level=4, levels=(9, 10), operators=("+", "-"))
    assert [p.difficulty for p in wide] == [9] * 4 + [10] * 4 and not any("*" in p.question for p in wide)


def test_answer_extraction_and_equivalence():
    assert last_boxed(r"\boxed{3} then \boxed{-14}") == "-14"
    assert last_boxed(r"\boxed{\frac{1}{2}}") == r"\frac{1}{2}"
    assert last_boxed(r"\boxed{12") is None
    assert last_boxed("no box") is None
    assert parse_integer(" -14 ") == -14 and parse_integer("+7") == 7 and parse_integer("1,024") == 1024
    assert parse_integer("1e3") is None and parse_integer("") is None and parse_integer("-") is None
    assert D.equivalent("14", " 14") and D.equivalent("-0", "0") and not D.equivalent("14", "-14")
    assert not D.equivalent("x", "14") and D.equivalent("x", "x")


def test_spec_validation_names_the_field():
    with pytest.raises(ValueError, match="n_terms"):
        Spec(n_terms=1)
    with pytest.raises(ValueError, match="operators"):
        Spec(n_terms=3, operators=("/",))
    with pytest.raises(ValueError, match="max_operand"):
        Spec(n_terms=3, max_operand=0)


def test_bleu_tokens_split_numbers_and_operators():
    assert D.bleu_tokens("12+3*45") == ["12", "+", "3", "*", "45"]
    assert D.bleu_tokens("not a question") == ["not", "a", "question"]


def test_get_domain():
    assert get_domain("arithmetic").name == "arithmetic"
    with pytest.raises(ValueError, match="unknown domain"):
        get_domain("chess")


def test_make_heldout_script_writes_a_file_the_loop_reads(tmp_path, capsys):
    """scripts/make_heldout.py writes what eval.heldout_file loads; bad levels exit 2 naming the flag."""
    import importlib.util
    from pathlib import Path

    from rzero.core.domains import load_problems

    path = Path(__file__).parents[1] / "scripts" / "make_heldout.py"
    spec = importlib.util.spec_from_file_location("make_heldout", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "h.jsonl"
    assert script.main(["--levels", "9-10", "--operators", "+-", "--per-level", "3", "--out", str(out)]) == 0
    problems = load_problems(out)
    assert [p.difficulty for p in problems] == [9, 9, 9, 10, 10, 10]
    assert all("*" not in p.question for p in problems)
    assert problems == make_heldout(per_level=3, levels=(9, 10), operators=("+", "-"))
    for bad in (["--levels", "0-3"], ["--levels", "x"], ["--levels", "2", "--operators", "+/"]):
        with pytest.raises(SystemExit) as stop:
            script.main([*bad, "--out", str(tmp_path / "no.jsonl")])
        assert stop.value.code == 2
        assert bad[-2] in capsys.readouterr().err
    assert not (tmp_path / "no.jsonl").exists()


@pytest.mark.parametrize(
    "completion, worked",
    [
        ("3*4=12;7+12-5\n7+12=19;19-5\n19-5=14\n\\boxed{14}", True),  # the scratchpad of the pretraining corpus
        ("3*4=12\n7+12=19\n19-5=14\n\\boxed{14}", True),  # the running style
        ("Work:\n3 * 4 = 12 ; 7+12-5\n\\boxed{14}", True),  # an opener line, spaces: still a step
        ("7+3=10;10*4-5\n\\boxed{35}", True),  # wrong order, wrong answer: worked (skill, not habit)
        ("4*5=21\n\\boxed{21}", True),  # a miscopied neighbour, a wrong product: still a step of these numbers
        ("\\boxed{14}", False),  # the hasty answer: the box alone
        ("\n\\boxed{14}", False),  # a bare newline
        ("\n\n  \n\\boxed{14}", False),
        ("Let me think about this.\nThe answer follows.\n\\boxed{14}", False),  # prose lines
        ("7+3*4-5\n\\boxed{14}", False),  # the question repeated
        ("7+3*4-5=14\n\\boxed{14}", False),  # the question with its value: no step of it
        ("Problem: 7+3*4-5\nSolution:\n\\boxed{14}", False),  # the prompt repeated
        ("8*6=48;48+1\n\\boxed{49}", False),  # a step of another problem
        ("3*4=\n\\boxed{14}", False),  # no result
        ("3*4=12abc\n\\boxed{14}", False),
        ("3*4=1e9\n\\boxed{14}", False),
        ("3*4=12;7+12-\n\\boxed{14}", False),  # a rewritten rest that does not parse
        ("\\boxed{12}\n3*4=12\n\\boxed{14}", True),  # lines before the final box count
        ("3*4=12\n", True),  # no box at all: the whole text is looked at
    ],
)
def test_shows_work_asks_for_a_reduction_step_of_the_problem(completion, worked):
    assert ArithmeticDomain().shows_work("7+3*4-5", completion) is worked


def test_shows_work_on_one_operation_and_bad_questions():
    domain = ArithmeticDomain()
    assert domain.shows_work("8-2", "8-2=6\n\\boxed{6}")  # the only step is the question with its value
    assert not domain.shows_work("8-2", "8-2\n\\boxed{6}")
    assert domain.shows_work("2+3-4", "-3-5=-8;-8+10\n2+3=5;5-4\n\\boxed{1}")  # a line that fits, among others
    assert not domain.shows_work("not a question", "1+2=3\n\\boxed{3}")


@given(st.integers(1, 8), st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_every_worked_solution_shows_work_and_the_box_alone_does_not(level, seed):
    question, answer = sample_problem(random.Random(seed), level_spec(level))
    domain = ArithmeticDomain()
    assert domain.shows_work(question, worked_solution(question))
    assert domain.shows_work(question, worked_solution(question, style="running"))
    assert not domain.shows_work(question, f"{question}\n\\boxed{{{answer}}}")


def test_a_reduction_step_may_rewrite_to_long_partial_results():
    """Operands are at most 3 digits, partial results are not: `99*99=9801;9801*99+1` is the first step of
    `99*99*99+1` and works the problem out."""
    from rzero.core.domains.arithmetic import shows_reduction, step_operation

    assert step_operation("99*99=9801;9801*99+1") == (99, "*", 99)
    assert shows_reduction("99*99*99+1", "99*99=9801;9801*99+1\n9801*99=970299;970299+1\n\\boxed{970300}")
    assert step_operation("3*4=12;x") is None and step_operation("3*4=12;12+") is None
