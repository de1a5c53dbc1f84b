"""Math benchmarks from ../shared/data: a generator that replays the gold solutions scores 100% where
the gold answer is parseable, and the items that are not are reported."""

from pathlib import Path

import pytest

from rzero.core.domains.math import MathDomain
from rzero.core.evalsets import MATH_BENCHMARKS, load_benchmark
from rzero.core.verify import VerifyPool
from rzero.engines.generation import ScriptedGenerator
from rzero.stages.evaluate import score_problems

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def domain():
    pool = VerifyPool(workers=2, timeout_s=5.0)
    yield MathDomain(pool=pool)
    pool.close()


@pytest.mark.parametrize("name", MATH_BENCHMARKS)
def test_gold_replay_scores_everything_parseable(name, domain):
    if not (DATA / name / "test.jsonl").exists():
        pytest.skip(f"{DATA / name} not found (shared data is optional)")
    problems, solutions, missing = load_benchmark(name, DATA)
    assert len(problems) > 20
    assert len(missing) <= 0.02 * (len(problems) + len(missing)), f"{name}: rows without gold {missing[:10]}"

    # the reference solution where the file has one (its own final-answer format), else the boxed gold
    pairs = zip(problems, solutions, strict=True)
    replay = {domain.solver_prompt(p.question): s or f"\\boxed{{{p.answer}}}" for p, s in pairs}
    results = score_problems(ScriptedGenerator(lambda prompt, i: replay[prompt]), domain, problems, 0)
    figures = {
        "problems": len(results),
        "pass1": sum(r.greedy_correct for r in results) / len(results),
        "wrong": [i for i, r in enumerate(results) if not r.greedy_correct],
    }
    unparseable = figures["wrong"]
    assert len(unparseable) <= 0.02 * len(problems), f"{name}: replayed gold judged wrong at {unparseable[:10]}"
    print(
        f"{name}: {figures['problems']} problems, pass@1 of the replay {figures['pass1']:.4f}, "
        f"not parseable {unparseable}, rows without gold {missing}"
    )


def test_unknown_benchmark_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_benchmark("mmlu", tmp_path)
    with pytest.raises(FileNotFoundError, match="gsm8k/test.jsonl not found"):
        load_benchmark("gsm8k", tmp_path)
