"""Rewards: hand-made vectors, agreement with nltk + scikit-learn, properties."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from rzero.core.rewards import (
    bleu_distance_matrix,
    challenger_reward,
    repetition_penalty,
    solver_reward,
    uncertainty_reward,
)


def naive_distances(questions):
    """The straightforward reference: one nltk sentence_bleu call per pair i < j, mirrored."""
    smooth = SmoothingFunction().method1
    size = len(questions)
    d = np.zeros((size, size))
    for i in range(size):
        for j in range(i + 1, size):
            d[i, j] = d[j, i] = 1 - sentence_bleu(
                [questions[j].split()], questions[i].split(), smoothing_function=smooth
            )
    return d


def naive_penalty(questions, tau=0.5, lam=1.0):
    d = naive_distances(questions)
    labels = (
        AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average", distance_threshold=tau)
        .fit(d)
        .labels_
    )
    sizes = np.bincount(labels)
    return [lam * sizes[k] / len(questions) for k in labels], labels


def random_questions(seed, count, vocab=12, max_len=14):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocab)]
    base = [" ".join(rng.choice(words) for _ in range(rng.randint(1, max_len))) for _ in range(count // 2)]
    # near-duplicates: one word changed, so that real clusters form
    out = list(base)
    while len(out) < count:
        tokens = rng.choice(base).split()
        tokens[rng.randrange(len(tokens))] = rng.choice(words)
        out.append(" ".join(tokens))
    return out


@pytest.mark.parametrize(
    "p_hat, paper, reference",
    [(0.5, 1.0, 0.5), (0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.3, 0.6, 0.3), (0.7, 0.6, 0.3), (0.9, 0.2, 0.1)],
)
def test_uncertainty_reward(p_hat, paper, reference):
    assert uncertainty_reward(p_hat) == pytest.approx(paper)
    assert uncertainty_reward(p_hat, "reference") == pytest.approx(reference)


def test_uncertainty_reward_rejects_bad_input():
    with pytest.raises(ValueError, match="p_hat"):
        uncertainty_reward(1.5)
    with pytest.raises(ValueError, match="variant"):
        uncertainty_reward(0.5, "other")


def test_distances_bit_identical_to_nltk_on_edge_cases():
    questions = [
        "a b c d e",
        "a b c d e",
        "a b c d",
        "e d c b a",
        "x",
        "",
        "a a a a a a",
        "a",
        "b c d e f g h",
        "a b",
        "a b c d e f g h i j k l m n o p",
    ]
    assert np.array_equal(bleu_distance_matrix(questions), naive_distances(questions))


@pytest.mark.parametrize("seed", range(3))
def test_distances_and_clusters_agree_with_nltk_and_sklearn(seed):
    questions = random_questions(seed, 80)
    ours = bleu_distance_matrix(questions)
    reference = naive_distances(questions)
    assert np.abs(ours - reference).max() <= 1e-9
    assert np.array_equal(ours, ours.T) and not ours.diagonal().any()
    expected, labels = naive_penalty(questions)
    assert repetition_penalty(questions) == pytest.approx(expected, abs=1e-12)
    from rzero.core.rewards import cluster_labels

    assert adjusted_rand_score(labels, cluster_labels(ours)) == 1.0


def test_duplicates_share_one_cluster_and_distinct_questions_do_not():
    questions = ["what is 2 + 2 ?"] * 3 + ["compute the area of a circle of radius 3", "how many primes below 50 ?"]
    assert repetition_penalty(questions) == pytest.approx([3 / 5, 3 / 5, 3 / 5, 1 / 5, 1 / 5])
    assert repetition_penalty(questions, lam=0.5)[0] == pytest.approx(0.3)


def test_repetition_penalty_small_batches_and_custom_tokens():
    assert repetition_penalty([]) == []
    assert repetition_penalty(["only one"]) == [1.0]
    compact = ["7+3*4", "7+3*5", "9*9-1"]
    assert repetition_penalty(compact) == pytest.approx([1 / 3] * 3)  # one token each: all distinct
    spaced = lambda q: " ".join(q).split()  # noqa: E731
    assert repetition_penalty(compact, tokenize=spaced)[0] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="tau"):
        repetition_penalty(["a", "b"], tau=0)


@given(
    st.lists(st.lists(st.sampled_from("abcde"), min_size=1, max_size=6).map(" ".join), min_size=1, max_size=12),
    st.randoms(),
)
@settings(max_examples=60, deadline=None)
def test_penalty_properties(questions, rnd):
    penalties = repetition_penalty(questions)
    size = len(questions)
    assert all(1 / size - 1e-12 <= p <= 1 + 1e-12 for p in penalties)
    order = list(range(size))
    rnd.shuffle(order)
    shuffled = repetition_penalty([questions[i] for i in order])
    assert shuffled == pytest.approx([penalties[i] for i in order])
    for i in range(size):  # identical questions always get the same penalty
        for j in range(size):
            if questions[i] == questions[j]:
                assert penalties[i] == penalties[j]


def test_challenger_reward_paper_and_reference():
    p_hats = [0.5, 0.5, None, 1.0, 0.3]
    penalties = [0.25, 0.0, 0.9, 0.1, 0.8]
    paper = challenger_reward(p_hats, penalties)
    assert [r.total for r in paper] == pytest.approx([0.75, 1.0, 0.0, 0.0, 0.0])
    assert [r.well_formed for r in paper] == [True, True, False, True, True]
    assert paper[4].uncertainty == pytest.approx(0.6) and paper[4].repetition == pytest.approx(0.8)
    ref = challenger_reward(p_hats, penalties, "reference")
    assert [r.total for r in ref] == pytest.approx([0.25, 0.5, -1.0, -0.1, -0.5])
    with pytest.raises(ValueError, match="penalties"):
        challenger_reward([0.5], [])


@given(st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=1, max_size=20), st.data())
def test_challenger_reward_ranges(p_hats, data):
    penalties = data.draw(st.lists(st.floats(0, 1), min_size=len(p_hats), max_size=len(p_hats)))
    for r in challenger_reward(p_hats, penalties):
        assert 0.0 <= r.total <= 1.0
    for r in challenger_reward(p_hats, penalties, "reference"):
        assert -1.0 <= r.total <= 0.5


def test_solver_reward():
    assert solver_reward(True, True) == 1.0 and solver_reward(False, True) == 0.0
    assert solver_reward(True, True, "reference") == pytest.approx(1.0)
    assert solver_reward(False, True, "reference") == pytest.approx(0.1)
    assert solver_reward(False, False, "reference") == 0.0
