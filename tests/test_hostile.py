"""Model output is hostile text: parsing, extraction, equivalence and voting never crash, never
execute it, finish within their time limits and keep memory bounded, on a corpus of nasty strings
and on random text (hypothesis)."""

import builtins
import signal
import time
import tracemalloc
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rzero.core.domains import last_boxed
from rzero.core.domains.arithmetic import ArithmeticDomain, parse_integer
from rzero.core.domains.math import MathDomain, extract_answer, normalize
from rzero.core.voting import majority_vote

MB = 1_000_000
NASTY = [
    "",
    "\\boxed{",
    "\\boxed{" * 200_000,  # 1.4 MB of unbalanced openings
    "}" * MB,
    "{" * 100_000 + "}" * 100_000,  # deep nesting
    "\\boxed{" + "{" * 50_000 + "1" + "}" * 50_000 + "}",
    "\\boxed{\\boxed{\\boxed{42}}}",
    "\\boxed{1}\\boxed{2" + "{" * 1000,
    "10^{10^{10^{10^{10}}}}",
    "\\boxed{10^{10^{10^{10^{10}}}}}",
    "\\boxed{" + "\\frac{1}{" * 500 + "2" + "}" * 500 + "}",
    "\\boxed{" + "9" * MB + "}",
    "9" * MB,
    "1+" * 500_000 + "1",
    "<question>" * 100_000,
    "<question>" + "1+" * 300_000 + "1</question>",
    "<question>1+2\x00</question>",
    "\x00" * 1000 + "\\boxed{\x00}",
    "".join(chr(c) for c in range(32)) * 1000,
    "\\boxed{١٢٣}",  # Arabic-Indic digits
    "\\boxed{一二三}",
    "\\boxed{𝟙𝟚𝟛}",  # mathematical double-struck digits
    "\\boxed{\u202e321\u202c}",  # right-to-left override
    "\\boxed{__import__('os').system('touch /tmp/rzero-pwned')}",
    "<question>__import__('os').system('touch /tmp/rzero-pwned')</question>",
    "<question>eval('1+1')</question>",
    "The answer is " + " " * 200_000 + "x",
    "A:" + " " * 200_000 + "x",
    "#### " + "1," * 300_000,
    "\\boxed{1,0" + ",000" * 100_000 + "}",
    "\\boxed{-" + "-" * 100_000 + "1}",
    "\ud800" if False else "\\boxed{\udcff}",  # a lone surrogate, as decoding with errors=surrogateescape gives
    "\\text{" * 50_000,
    "$" * MB,
]
FAST_S = 1.0  # pure-Python functions: generous for 1 MB inputs on a slow CPU


@contextmanager
def time_limit(seconds: float):
    def expire(signum, frame):
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def no_code_execution(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("model output reached eval/exec")

    for name in ("eval", "exec"):
        monkeypatch.setattr(builtins, name, refuse)


def bounded(fn, *args, seconds=FAST_S, megabytes=64):
    """Call fn(*args) under a time limit, then again while tracing allocations (which slows Python
    down several times, hence a separate call) to check what it allocates at its peak."""
    with time_limit(seconds):
        result = fn(*args)
    tracemalloc.start()
    try:
        with time_limit(30 * seconds):
            fn(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < megabytes * MB, f"{fn.__name__} allocated {peak / MB:.0f} MB"
    return result


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_arithmetic_domain_survives(text, no_code_execution):
    domain = ArithmeticDomain()
    question = bounded(domain.parse_question, text)
    assert question is None or len(question) < 200
    answer = bounded(domain.extract_answer, text)
    assert answer is None or isinstance(answer, str)
    assert bounded(domain.equivalent, text, "1") in (True, False)
    assert bounded(domain.difficulty, text) is None or text.count("+") < 20
    assert bounded(domain.oracle, text) is None or len(text) < 200
    assert bounded(parse_integer, text) is None or len(text) <= 40


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_math_extraction_survives(text, no_code_execution):
    domain = MathDomain()
    assert bounded(domain.parse_question, text) is None or isinstance(domain.parse_question(text), str)
    answer = bounded(extract_answer, text)
    assert answer is None or isinstance(answer, str)
    assert isinstance(bounded(normalize, text), str)
    assert isinstance(bounded(last_boxed, text) or "", str)


def test_math_equivalence_survives_within_its_timeout(tmp_path):
    from rzero.core.verify import VerifyPool

    pool = VerifyPool(workers=2, timeout_s=2.0)
    domain = MathDomain(pool=pool)
    try:
        for text in NASTY:
            started = time.time()
            verdict = domain.equivalent(text, "\\frac{1}{2}")
            assert verdict in (True, False)
            assert time.time() - started < pool.timeout_s + 1.0, text[:40]
        assert domain.equivalent("0.5", "\\frac{1}{2}")  # still working after all that
    finally:
        pool.close()
    assert not (tmp_path / "rzero-pwned").exists()
    import os

    assert not os.path.exists("/tmp/rzero-pwned")


def test_voting_on_hostile_answers():
    domain = ArithmeticDomain()
    answers = [extract_answer(t) for t in NASTY[:12]] + [None, "1", "1"]
    vote = bounded(majority_vote, answers, domain.equivalent)
    assert vote.pseudo_label is not None and 0 < vote.p_hat <= 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_random_text_never_crashes_arithmetic(text):
    domain = ArithmeticDomain()
    domain.parse_question(text)
    domain.parse_question(f"<question>{text}</question>")
    answer = domain.extract_answer(text + "\\boxed{" + text + "}")
    assert answer is None or isinstance(answer, str)
    assert domain.equivalent(text, text) is True


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("\\boxed{}frac^0123456789 $A:#")), max_size=300))
def test_random_latex_never_crashes_math_extraction(text):
    answer = extract_answer(text)
    assert answer is None or isinstance(answer, str)
    normalize(text)
