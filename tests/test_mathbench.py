"""Math benchmarks from ../shared/data: a generator that replays the gold solutions scores 100% where
the gold answer is parseable, and the items that are not are reported."""

from pathlib import Path

import pytest

from rzero.domains.math import MathDomain, extract_answer
from rzero.mathbench import BENCHMARKS, load_benchmark, score_benchmark
from rzero.verify import VerifyPool

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def domain():
    pool = VerifyPool(workers=2, timeout_s=5.0)
    yield MathDomain(pool=pool)
    pool.close()


@pytest.mark.parametrize("name", BENCHMARKS)
def test_gold_replay_scores_everything_parseable(name, domain):
    if not (DATA / name / "test.jsonl").exists():
        pytest.skip(f"{DATA / name} not found (shared data is optional)")
    problems, solutions, missing = load_benchmark(name, DATA)
    assert len(problems) > 20
    assert len(missing) <= 0.02 * (len(problems) + len(missing)), f"{name}: rows without gold {missing[:10]}"

    def replay(batch):
        # the reference solution where the file has one (its own final-answer format), else the boxed gold
        return [
            [extract_answer(s) if s else extract_answer(f"\\boxed{{{p.answer}}}")]
            for p, s in zip(batch, solutions, strict=True)
        ]

    figures = score_benchmark(replay, problems, domain.equivalent)
    unparseable = figures["wrong"]
    assert len(unparseable) <= 0.02 * len(problems), f"{name}: replayed gold judged wrong at {unparseable[:10]}"
    print(
        f"{name}: {figures['problems']} problems, pass@1 of the replay {figures['pass1']:.4f}, "
        f"not parseable {unparseable}, rows without gold {missing}"
    )


def test_score_benchmark_mean_and_majority():
    from rzero.domains import Problem

    problems = [Problem("q1", "2", 0), Problem("q2", "5", 0)]
    answers = [["2", "2", "3", "2"], [None, "5", "4", "4"]]
    equivalent = lambda a, b: a == b  # noqa: E731
    figures = score_benchmark(lambda batch: answers, problems, equivalent)
    assert figures["pass1"] == 0.5 and figures["wrong"] == [1]
    assert figures["mean_at_k"] == pytest.approx((2 / 3 + 1 / 3) / 2) and figures["maj_at_k"] == 0.5


def test_unknown_benchmark_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_benchmark("mmlu", tmp_path)
    with pytest.raises(FileNotFoundError, match="gsm8k/test.jsonl not found"):
        load_benchmark("gsm8k", tmp_path)
