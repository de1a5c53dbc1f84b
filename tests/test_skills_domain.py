"""The skills testbed domain (issue 31): grammar, oracle, documents, worked-solution test, held-out set."""

import random

import pytest

from rzero.core.domains import get_domain
from rzero.core.domains.skills import (
    FAMILIES,
    HELDOUT_PER_FAMILY,
    SkillsDomain,
    corpus,
    make_heldout,
    parse_question_text,
    sample_question,
    solve,
)

DOMAIN = SkillsDomain()


def test_hand_made_answers():
    cases = {
        "add 7 3 9 4 2": "25",
        "sub 90 3 5 2": "80",
        "mul 3 4 7": "84",
        "dbl 7 3": "56",
        "mnx 34 81 52 17": "81",
        "mnn 34 81 52 17": "17",
        "dig 48271": "22",
        "rev 4827": "7284",
        "nxt 3 7 11": "15",
        "srt 4827": "8742",
        "hlf 96 2": "24",
        "rot 4827": "8274",
    }
    assert len(cases) == len(FAMILIES)
    for question, answer in cases.items():
        assert DOMAIN.oracle(question) == answer, question
        assert DOMAIN.difficulty(question) == 1 + [f.keyword for f in FAMILIES].index(question.split()[0])


@pytest.mark.parametrize(
    "text",
    [
        "add 2 4 5",  # wrong count
        "add 23 4 5 1 1",  # out of range
        "sub 20 1 2 3",  # first too small
        "nxt 3 7 12",  # not arithmetic
        "hlf 97 2",  # halves not integers
        "rot 4027",  # rotation would start with 0
        "rev 4820",  # reversal would start with 0
        "dbl 7 9",  # too many doublings
        "xyz 1 2 3",  # no such family
        "add 03 4 5 1 1",  # leading zero
        "add 2e1 4 5 1 1",
        "",
        "add " + "1 " * 40,
    ],
)
def test_malformed_questions_are_rejected(text):
    assert parse_question_text(text) is None
    assert DOMAIN.parse_question(f"<question>{text}</question>") is None
    assert DOMAIN.oracle(text) is None


def test_parse_question_canonicalises_and_needs_both_tags():
    assert DOMAIN.parse_question("x <question> add  2 4   5 1 1 </question> y") == "add 2 4 5 1 1"
    assert DOMAIN.parse_question("<question>add 2 4 5 1 1") is None
    assert DOMAIN.parse_question("add 2 4 5 1 1</question>") is None


def test_every_family_documents_and_worked_test():
    rng = random.Random(3)
    for number in range(1, len(FAMILIES) + 1):
        for _ in range(20):
            question, answer = sample_question(rng, number)
            assert DOMAIN.oracle(question) == str(answer)
            worked = DOMAIN.solving_document(question).split("Solution:\n", 1)[1]
            assert worked.startswith(FAMILIES[number - 1].opener + "\n")
            assert DOMAIN.extract_answer(worked) == str(answer)
            assert DOMAIN.shows_work(question, worked)
            hasty = DOMAIN.answer_only_document(question, answer).split("Solution:\n", 1)[1]
            assert hasty.startswith(FAMILIES[number - 1].hasty + " ")
            assert not DOMAIN.shows_work(question, hasty)
            assert DOMAIN.parse_question(DOMAIN.posing_document(question)) == question


def test_worked_test_wants_the_questions_own_family_steps():
    # an add step under a max question is not max's work; an opener alone is not work either
    assert not DOMAIN.shows_work("mnx 34 81 52 17", "Ranking:\n34+8=42\n\\boxed{81}")
    assert not DOMAIN.shows_work("mnx 34 81 52 17", "Ranking:\n\\boxed{81}")
    assert DOMAIN.shows_work("mnx 34 81 52 17", "Ranking:\nmax(34,81)=81\n\\boxed{81}")
    assert not DOMAIN.shows_work("not a question", "Ranking:\nmax(34,81)=81\n\\boxed{81}")


def test_openers_and_hasty_words_start_differently():
    firsts = [f.opener[0] for f in FAMILIES] + [f.hasty[0] for f in FAMILIES]
    assert len(set(firsts)) == 2 * len(FAMILIES)


def test_heldout_is_the_seeded_draw_spread_evenly():
    shipped = DOMAIN.heldout()
    assert shipped == make_heldout()
    assert len(shipped) == HELDOUT_PER_FAMILY * len(FAMILIES)
    for number in range(1, len(FAMILIES) + 1):
        mine = [p for p in shipped if p.difficulty == number]
        assert len(mine) == len({p.question for p in mine}) == HELDOUT_PER_FAMILY
        assert all(DOMAIN.oracle(p.question) == p.answer for p in mine)
    assert get_domain("skills").name == "skills"


def test_corpus_follows_the_weights_and_excludes():
    held = {p.question for p in DOMAIN.heldout()}
    weights = {n: 1.0 for n in range(1, 13)}
    posing = {1: 1.0, 12: 0.0}
    docs = corpus(random.Random(0), 3000, 0.3, weights, posing, {5: 0.0, 1: 1.0}, held)
    posed = [DOMAIN.parse_question(d) for d in docs if d.startswith("Pose")]
    assert posed and all(q.startswith("add ") for q in posed)
    solving = [d for d in docs if d.startswith("Problem:")]
    assert all(d.split("\n")[0][len("Problem: ") :] not in held for d in solving)
    family5 = [d for d in solving if d.startswith("Problem: mnx")]
    family1 = [d for d in solving if d.startswith("Problem: add")]
    assert family5 and all("\nlargest \\boxed{" in d for d in family5)
    assert family1 and all("\nAdding:\n" in d for d in family1)
    lines, value = solve(5, [34, 81, 52, 17])
    assert (lines[-1], value) == ("max(81,17)=81", 81)


def test_documents_of_a_malformed_question_are_refused_by_name():
    for make in (DOMAIN.solving_document, lambda q: DOMAIN.answer_only_document(q, 3)):
        with pytest.raises(ValueError, match="'mid 34 80' is not a well-formed question"):
            make("mid 34 80")


def test_fresh_draws_skip_excluded_questions_and_stop_when_a_family_runs_out():
    held = frozenset(p.question for p in DOMAIN.heldout())
    fresh = make_heldout(seed=12345, per_family=60, families=(11,), exclude=held)
    assert fresh and len(fresh) < 60 and not {p.question for p in fresh} & held  # hlf: ~72 questions, 32 held
