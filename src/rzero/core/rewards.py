"""R-Zero's rewards as pure functions: uncertainty, repetition penalty, Challenger total, Solver.

Paper (arXiv 2508.05004) and reference code differ in places; both are available and the paper's
choice is the default:

| quantity               | paper (`variant="paper"`)        | reference code (`variant="reference"`) |
|------------------------|----------------------------------|----------------------------------------|
| uncertainty            | 1 - 2 |p_hat - 1/2|              | min(p_hat, 1 - p_hat)  (half the paper's) |
| Challenger total       | max(0, r_unc - r_rep)            | min(p_hat, 1 - p_hat) - r_rep, no clamp |
| malformed question     | 0                                | -1                                      |
| Solver reward          | 1 if answer == pseudo-label      | 0.9 * correct + 0.1 * format            |

The repetition penalty follows the reference semantics exactly (BLEU-4 with nltk's smoothing
method1, BLEU(hypothesis = x_i, references = [x_j]) for i < j, mirrored; average-linkage clustering
at distance threshold tau; penalty lam * |cluster| / B) but computes the pairwise BLEU matrix from
n-gram statistics gathered once per question, with sparse matrix products, instead of B^2 / 2 calls
of nltk's sentence_bleu. Values are bit-identical to nltk's: every distinct combination of
(hypothesis length, reference length, clipped n-gram matches) is evaluated once with nltk's own
arithmetic.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import sparse

Variant = Literal["paper", "reference"]
BLEU_ORDER = 4
SMOOTHING_EPSILON = 0.1  # nltk SmoothingFunction().method1


def uncertainty_reward(p_hat: float, variant: Variant = "paper") -> float:
    """Reward for a question whose Solver vote share is p_hat: peaks at p_hat = 1/2.

    paper: 1 - 2|p_hat - 1/2| (1 at 1/2, 0 at 0 and 1); reference: min(p_hat, 1 - p_hat).
    """
    if not 0.0 <= p_hat <= 1.0:
        raise ValueError(f"p_hat must be in [0, 1], got {p_hat}")
    if variant == "paper":
        return 1.0 - 2.0 * abs(p_hat - 0.5)
    if variant == "reference":
        return min(p_hat, 1.0 - p_hat)
    raise ValueError(f"variant must be 'paper' or 'reference', got {variant!r}")


# ---------------------------------------------------------------------------------------------
# Repetition penalty
# ---------------------------------------------------------------------------------------------


def _ngram_match_counts(token_lists: list[list[str]], n: int) -> np.ndarray:
    """M[i, j] = sum over n-grams g of min(count_i(g), count_j(g)), for all pairs at once.

    min(a, b) = sum_k [a >= k][b >= k], so M = sum_k I_k I_k^T with I_k the indicator matrix of
    "n-gram g occurs at least k times in question i".
    """
    vocab: dict[tuple[str, ...], int] = {}
    rows, cols, counts = [], [], []
    for i, tokens in enumerate(token_lists):
        grams = Counter(tuple(tokens[s : s + n]) for s in range(len(tokens) - n + 1))
        for gram, count in grams.items():
            rows.append(i)
            cols.append(vocab.setdefault(gram, len(vocab)))
            counts.append(count)
    size = len(token_lists)
    if not counts:
        return np.zeros((size, size), dtype=np.int64)
    rows_a, cols_a, counts_a = np.array(rows), np.array(cols), np.array(counts)
    total = np.zeros((size, size), dtype=np.int64)
    for k in range(1, int(counts_a.max()) + 1):
        keep = counts_a >= k
        indicator = sparse.csr_matrix(
            (np.ones(int(keep.sum()), dtype=np.int64), (rows_a[keep], cols_a[keep])), shape=(size, len(vocab))
        )
        total += (indicator @ indicator.T).toarray()
    return total


def _nltk_precision_term(hyp_len: int, matches: Sequence[int]) -> float:
    """exp(sum_n w_n log p_n) of one pair, with nltk's arithmetic (corpus_bleu for one sentence).

    Modified precision p_n = matches_n / max(1, hypothesis n-grams); smoothing method1 turns a zero
    numerator into epsilon / denominator; uniform weights 1/4; math.fsum as nltk does. The caller
    handles "no unigram matches -> BLEU 0" and multiplies by the brevity penalty.
    """
    logs = []
    for n, m in enumerate(matches, start=1):
        denominator = max(1, hyp_len - n + 1)
        p = m / denominator if m else SMOOTHING_EPSILON / denominator
        logs.append((1.0 / BLEU_ORDER) * math.log(p))
    return math.exp(math.fsum(logs))


def _nltk_brevity_penalty(hyp_len: int, ref_len: int) -> float:
    if hyp_len > ref_len:
        return 1.0
    if hyp_len == 0:
        return 0.0
    return math.exp(1 - ref_len / hyp_len)


def _evaluate_unique(rows: np.ndarray, function: Callable[..., float]) -> np.ndarray:
    """function(*row) for every row of a small-int matrix, evaluating each distinct row once."""
    if rows.size and rows.max() < 2**12 and rows.shape[1] <= 5:  # pack into one int64 key: fast unique
        keys = np.zeros(len(rows), dtype=np.int64)
        for column in range(rows.shape[1]):
            keys = (keys << 12) | rows[:, column]
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        unique_rows = rows[first]
    else:
        unique_rows, inverse = np.unique(rows, axis=0, return_inverse=True)
    values = np.array([function(int(r[0]), [int(x) for x in r[1:]]) for r in unique_rows], dtype=np.float64)
    return values[inverse.reshape(-1)]


def bleu_distance_matrix(questions: Sequence[str], tokenize: Callable[[str], list[str]] = str.split) -> np.ndarray:
    """D[i, j] = 1 - BLEU(hypothesis = x_i, references = [x_j]) for i < j, mirrored, 0 on the diagonal."""
    token_lists = [tokenize(q) for q in questions]
    size = len(token_lists)
    distances = np.zeros((size, size))
    if size < 2:
        return distances
    lengths = np.array([len(t) for t in token_lists], dtype=np.int64)
    matches = [_ngram_match_counts(token_lists, n) for n in range(1, BLEU_ORDER + 1)]
    upper_i, upper_j = np.triu_indices(size, k=1)
    hyp_len, ref_len = lengths[upper_i], lengths[upper_j]
    # BLEU = brevity(hyp_len, ref_len) * precision_term(hyp_len, matches); each factor is evaluated
    # once per distinct argument (lengths and counts are small integers, so there are few).
    precision_rows = np.stack([hyp_len] + [m[upper_i, upper_j] for m in matches], axis=1)
    precision = _evaluate_unique(precision_rows, _nltk_precision_term)
    brevity = _evaluate_unique(np.stack([hyp_len, ref_len], axis=1), lambda h, r: _nltk_brevity_penalty(h, r[0]))
    bleu = np.where(precision_rows[:, 1] == 0, 0.0, brevity * precision)
    distances[upper_i, upper_j] = 1.0 - bleu
    distances[upper_j, upper_i] = 1.0 - bleu
    return distances


def cluster_labels(distances: np.ndarray, tau: float = 0.5) -> np.ndarray:
    """Average-linkage agglomerative clusters of a precomputed distance matrix, cut at tau."""
    from sklearn.cluster import AgglomerativeClustering

    if len(distances) < 2:
        return np.zeros(len(distances), dtype=np.int64)
    model = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average", distance_threshold=tau)
    return model.fit(distances).labels_


def repetition_penalty(
    questions: Sequence[str],
    tau: float = 0.5,
    lam: float = 1.0,
    tokenize: Callable[[str], list[str]] = str.split,
) -> list[float]:
    """r_rep(x_i) = lam * |C(x_i)| / B, C the BLEU-distance cluster of x_i in a batch of B questions.

    `tokenize` splits a question into BLEU tokens (reference: whitespace); a domain whose questions
    have no spaces passes its own (the arithmetic domain splits numbers and operators).
    """
    if not questions:
        return []
    if not tau > 0.0:
        raise ValueError(f"tau must be > 0, got {tau}")
    labels = cluster_labels(bleu_distance_matrix(questions, tokenize), tau)
    sizes = np.bincount(labels)
    return [lam * float(sizes[label]) / len(questions) for label in labels]


# ---------------------------------------------------------------------------------------------
# Challenger and Solver rewards
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChallengerReward:
    """The reward of one Challenger rollout and its parts, for logging."""

    total: float
    well_formed: bool
    uncertainty: float  # r_unc of the variant (0 when malformed)
    repetition: float  # r_rep (0 when malformed)


def challenger_reward(
    p_hats: Sequence[float | None], penalties: Sequence[float], variant: Variant = "paper"
) -> list[ChallengerReward]:
    """Combine the format gate, uncertainty and repetition for a batch of Challenger rollouts.

    `p_hats[i]` is None for a malformed rollout (no parseable question). paper:
    max(0, r_unc - r_rep), malformed -> 0. reference: min(p, 1 - p) - r_rep, malformed -> -1.
    """
    if len(p_hats) != len(penalties):
        raise ValueError(f"{len(p_hats)} p_hat values but {len(penalties)} penalties")
    if variant not in ("paper", "reference"):
        raise ValueError(f"variant must be 'paper' or 'reference', got {variant!r}")
    results = []
    for p_hat, penalty in zip(p_hats, penalties, strict=True):
        if p_hat is None:
            results.append(ChallengerReward(0.0 if variant == "paper" else -1.0, False, 0.0, 0.0))
            continue
        uncertainty = uncertainty_reward(p_hat, variant)
        total = max(0.0, uncertainty - penalty) if variant == "paper" else uncertainty - penalty
        results.append(ChallengerReward(total, True, uncertainty, penalty))
    return results


SolverVariant = Literal["binary", "reference"]


def solver_reward(correct: bool, well_formed: bool, variant: SolverVariant = "binary") -> float:
    """Solver reward: 1 if the extracted answer matches the pseudo-label (paper), or the reference
    code's 0.9 * correct + 0.1 * format, where format = an answer could be extracted."""
    if variant == "binary":
        return 1.0 if correct else 0.0
    if variant == "reference":
        return 0.9 * float(correct) + 0.1 * float(well_formed)
    raise ValueError(f"variant must be 'binary' or 'reference', got {variant!r}")
