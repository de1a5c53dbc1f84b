"""Math domain: extraction, normalisation, math-verify in a pool with hard timeouts, real data."""

import json
import threading
from collections import Counter
from pathlib import Path

import pytest

from rzero.core.domains.math import MathDomain, extract_answer, normalize
from rzero.core.verify import VerifyPool
from rzero.core.voting import in_band, majority_vote

DATA = Path(__file__).parents[2] / "shared" / "data"
if not DATA.is_dir():
    DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def pool():
    with VerifyPool(workers=2, timeout_s=5.0) as p:
        yield p


@pytest.fixture(scope="module")
def domain(pool):
    return MathDomain(pool=pool)


@pytest.mark.parametrize(
    "text, answer",
    [
        (r"so \boxed{3} and finally \boxed{\frac{1}{2}}.", r"\frac{1}{2}"),
        (r"\boxed{x^{2}+1}", "x^{2}+1"),
        ("blah\n#### 1,234", "1,234"),
        ("The answer is 42.", "42"),
        ("work\nA: 18", "18"),
        ("The final answer is $7$", "$7$"),
        ("nothing here", None),
        (r"\boxed{unclosed", None),
    ],
)
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


def test_extract_answer_fallbacks_are_configurable():
    assert extract_answer("A: 18", fallbacks=()) is None
    assert extract_answer("#### 5\nThe answer is 6", fallbacks=("answer_is", "hash")) == "6"
    with pytest.raises(ValueError, match="fallback"):
        extract_answer("x", fallbacks=("nope",))


@pytest.mark.parametrize(
    "a, b",
    [
        ("1,000", "1000"),
        (r"\dfrac{1}{2}", r"\frac{1}{2}"),
        ("$5$", "5"),
        (r"10\%", "10"),
        ("2.50", "2.5"),
        (r"90^\circ", "90"),
        (r"\text{4 cm}", "4cm"),
    ],
)
def test_normalize(a, b):
    assert normalize(a) == normalize(b)


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("0.5", r"\frac{1}{2}", True),
        (r"\{1,2\}", r"\{2,1\}", True),
        ("3", "4", False),
        (r"2\pi", r"\pi \cdot 2", True),
        ("50%", "0.5", True),
    ],
)
def test_equivalence_with_math_verify(domain, a, b, same):
    assert domain.equivalent(a, b) is same


def test_pool_survives_hung_and_crashed_workers():
    with VerifyPool(workers=1, timeout_s=1.0) as pool:
        assert pool.check("1/2", "0.5")
        import rzero.core.verify as v

        assert v._verify_in_process("2", "2")
        # A check that cannot finish in time: the worker is killed and replaced.
        hung = "(" * 3000 + "1" + ")" * 3000
        pool.timeout_s = 0.05
        pool.check(hung, "2" * 5000 + "^" + "9" * 400)
        pool.timeout_s = 5.0
        assert pool.timeouts == 1
        assert pool.check("3", "3.0")
        # A worker that dies without answering: the verdict is False, a new worker takes over.
        (worker,) = list(pool._idle.queue)  # the one worker of this pool, idle between checks
        worker.process.kill()
        worker.process.join(timeout=5)
        assert pool.check("7", "7") is False and pool.crashes == 1
        assert pool.check("1/4", "0.25")


def test_pool_works_from_other_threads(pool):
    results = []
    threads = [threading.Thread(target=lambda: results.append(pool.check("1/3", r"\frac{1}{3}"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 4


def _skip_without(path: Path):
    if not path.is_file():
        pytest.skip(f"{path} not found (shared data is optional)")


def test_gsm8k_model_solutions_agree_with_dataset_grading(domain):
    path = DATA / "gsm8k" / "model_solutions.jsonl"
    _skip_without(path)
    agree = total = 0
    disagreements = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        gold = extract_answer(row["ground_truth"])
        for value in row.values():
            if not isinstance(value, dict):
                continue
            predicted = extract_answer(value["solution"])
            ours = predicted is not None and domain.equivalent(gold, predicted)
            total += 1
            agree += ours == value["is_correct"]
            if ours != value["is_correct"]:
                disagreements.append((gold, predicted, value["is_correct"]))
    print(f"\nGSM8K model solutions: {agree}/{total} = {agree / total:.4f} agree; e.g. {disagreements[:5]}")
    assert total == 4 * 1319 and agree / total >= 0.995


def test_math_votes_agree_with_score_and_vote_statistics(domain):
    path = DATA / "math_votes" / "math_cot_100.jsonl"
    _skip_without(path)
    agree = total = majority_right = 0
    p_hats = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        answers = [extract_answer(r) for r in row["response"]]
        for answer, score in zip(answers, row["score"], strict=True):
            ours = answer is not None and domain.equivalent(row["gt"], answer)
            total += 1
            agree += ours == bool(score)
        vote = majority_vote(answers, domain.equivalent)
        p_hats.append(vote.p_hat)
        majority_right += vote.pseudo_label is not None and domain.equivalent(row["gt"], vote.pseudo_label)
    band = sum(in_band(p, 0.25) for p in p_hats) / len(p_hats)
    histogram = dict(sorted(Counter(round(p * 8) for p in p_hats).items()))
    print(
        f"\nmath_votes: per-response agreement {agree}/{total} = {agree / total:.4f}; majority accuracy "
        f"{majority_right}/{len(p_hats)}; band fraction (delta 0.25) {band:.2f}; "
        f"p_hat histogram (votes of 8 -> questions) {histogram}"
    )
    assert total == 800 and agree / total >= 0.98


@pytest.mark.parametrize(
    "question, dropped",
    [
        ("Prove that there are infinitely many primes.", True),
        ("Show that $x^2 \\ge 0$ for all real $x$.", True),
        ("Find the sum of the roots of $x^2 - 5x + 6$.", False),
        ("What is the improvement of $a$ over $b$?", False),
    ],
)
def test_proof_questions_are_not_well_formed(question, dropped):
    assert (MathDomain().parse_question(f"<question>{question}</question>") is None) is dropped


@pytest.mark.parametrize(
    "answer, prose",
    [
        ("\\frac{1}{2}", False),
        ("12 \\text{ meters per second}", False),
        ("\\sqrt{3} \\pi", False),
        ("x = 3 or x = 4", False),
        ("The answer depends on the value of n", True),
        ("it cannot be determined", True),
    ],
)
def test_prose_answers_count_as_missing(answer, prose):
    assert (MathDomain().extract_answer(f"so \\boxed{{{answer}}}") is None) is prose


def test_math_verify_log_lines_are_capped(caplog):
    """A timed-out parse logs the whole model output; what reaches the log keeps the head and the length."""
    import logging

    from rzero.core.verify import LOG_MESSAGE_CHARS, cap_math_verify_logs

    cap_math_verify_logs()
    cap_math_verify_logs()  # idempotent: one filter per logger
    logger = logging.getLogger("math_verify.parser")
    assert logger.filters.count(logger.filters[0]) == 1
    with caplog.at_level(logging.WARNING, logger="math_verify"):
        logger.warning("Timeout during parsing: %s", "x" * 200_000)
        logging.getLogger("math_verify.grader").warning("Timeout during comparison")
    long, short = (record.getMessage() for record in caplog.records)
    assert long.startswith("Timeout during parsing: xxx") and long.endswith("[200024 characters in all]")
    assert len(long) < LOG_MESSAGE_CHARS + 40
    assert short == "Timeout during comparison"


@pytest.mark.parametrize(
    "completion, worked",
    [
        ("2x + 3 = 7, so 2x = 4.\n\\boxed{2}", True),
        ("We have x = 7 - 5 = 2\nThus\n\\boxed{2}", True),
        ("\\boxed{2}", False),  # the box alone
        ("\n\\boxed{2}", False),  # a bare newline
        ("Let us think step by step.\nThe answer is clear.\n\\boxed{2}", False),  # prose
        ("Solve 2x+3=7 for x.\n\\boxed{2}", False),  # the question repeated
        ("2x+3=7\n\\boxed{2}", False),  # a piece of the question repeated
        ("x = y\n\\boxed{2}", False),  # no number on either side
        ("We have 2x + 3 = 7.\n\\boxed{2}", False),  # the question restated after prose
        ("Given: 2x+3=7\n\\boxed{2}", False),  # ... or after a label
        ("The answer is x = 2.\n\\boxed{2}", False),  # the answer announced
        ("x = 2\n\\boxed{2}", False),  # the boxed answer as an equation
        ("Subtract 3: 2x = 4\nx = 2\n\\boxed{2}", True),  # a step after a label
    ],
)
def test_math_shows_work_is_a_conservative_equation_test(completion, worked):
    assert MathDomain(pool=object()).shows_work("Solve 2x+3=7 for x.", completion) is worked
