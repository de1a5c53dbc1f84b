"""Majority vote and the informative band, on hand-made vectors."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rzero.core.voting import in_band, majority_vote


def eq(a, b):
    return a.strip() == b.strip()


def test_clear_majority():
    vote = majority_vote(["4", "4", "5", "4", None], eq)
    assert vote.pseudo_label == "4" and vote.p_hat == pytest.approx(3 / 5)
    assert vote.group_sizes == (3, 1) and vote.missing == 1 and vote.votes == 5


def test_equivalence_groups_answers():
    vote = majority_vote(["4", " 4", "4 ", "7"], eq)
    assert vote.pseudo_label == "4" and vote.p_hat == 0.75


def test_tie_goes_to_first_seen_group():
    assert majority_vote(["7", "4", "4", "7"], eq).pseudo_label == "7"
    assert majority_vote(["4", "7", "7", "4"], eq).pseudo_label == "4"


def test_missing_answers_count_but_never_win():
    vote = majority_vote([None, None, None, "3"], eq)
    assert vote.pseudo_label == "3" and vote.p_hat == 0.25 and vote.missing == 3
    vote = majority_vote([None, None], eq)
    assert vote.pseudo_label is None and vote.p_hat == 0.0 and vote.group_sizes == ()


def test_empty_is_an_error():
    with pytest.raises(ValueError):
        majority_vote([], eq)


@pytest.mark.parametrize(
    "p_hat, delta, inside",
    [
        (0.5, 0.25, True),
        (0.3, 0.25, True),
        (0.7, 0.25, True),
        (0.25, 0.25, True),
        (0.75, 0.25, True),
        (0.2, 0.25, False),
        (0.8, 0.25, False),
        (3 / 10, 0.2, True),
        (7 / 10, 0.2, True),
        (0.0, 0.25, False),
        (1.0, 0.5, True),
        (0.29, 0.2, False),
    ],
)
def test_in_band(p_hat, delta, inside):
    assert in_band(p_hat, delta) is inside


def test_paper_band_is_3_to_7_of_10():
    assert [k for k in range(11) if in_band(k / 10, 0.25)] == [3, 4, 5, 6, 7]


@given(st.lists(st.one_of(st.none(), st.sampled_from("abc")), min_size=1, max_size=20))
def test_vote_properties(answers):
    vote = majority_vote(answers, eq)
    assert 0.0 <= vote.p_hat <= 1.0
    assert vote.votes == len(answers)
    real = [a for a in answers if a is not None]
    if real:
        assert vote.p_hat == max(real.count(x) for x in set(real)) / len(answers)
        assert vote.pseudo_label in real
    else:
        assert vote.pseudo_label is None


def test_solver_votes_asks_each_question_m_times_in_one_call():
    """The one routine that asks the Solver: one `generate` call with the domain's prompts, m samples
    at the given temperature, answers extracted, one ballot per question in order."""
    from rzero.core.domains.arithmetic import ArithmeticDomain
    from rzero.core.sampling import Sampling
    from rzero.core.voting import solver_votes
    from rzero.engines.generation import ScriptedGenerator

    domain = ArithmeticDomain()
    answers = {"1+1": ["2", "2", "3", None], "2*3": ["6", "5", "5", "5"]}

    def script(prompt, i):
        answer = answers[prompt.split("\n")[0].removeprefix("Problem: ")][i]
        return "no answer" if answer is None else f"\\boxed{{{answer}}}"

    solver = ScriptedGenerator(script)
    ballots = solver_votes(solver, domain, ["1+1", "2*3"], 4, 0.6, 24)
    assert [b.question for b in ballots] == ["1+1", "2*3"]
    assert ballots[0].answers == ("2", "2", "3", None) and ballots[0].vote.pseudo_label == "2"
    assert ballots[0].vote.p_hat == 0.5 and ballots[1].vote.pseudo_label == "5" and ballots[1].vote.p_hat == 0.75
    assert ballots[0].completions == ("\\boxed{2}", "\\boxed{2}", "\\boxed{3}", "no answer")  # the texts themselves
    ((prompts, sampling),) = solver.calls
    assert prompts == [domain.solver_prompt("1+1"), domain.solver_prompt("2*3")]
    assert sampling == Sampling(samples_per_prompt=4, temperature=0.6, top_p=1.0, max_new_tokens=24)
    assert solver_votes(solver, domain, [], 4, 0.6, 24) == [] and len(solver.calls) == 1  # nothing asked
