"""Majority voting over sampled answers: the pseudo-label and its vote share p_hat.

R-Zero labels a question by asking the frozen Solver m times, grouping the extracted answers by
equivalence and taking the largest group: the pseudo-label is that group's answer and
p_hat = |largest group| / m. Questions are kept for the Solver's curriculum when p_hat lies in the
informative band |p_hat - 1/2| <= delta.

`solver_votes` is the one place where the Solver is asked: the Challenger reward (votes on each
generated question), the curriculum (pseudo-labels) and the probe call it with the run's one m and
one vote temperature (`voting.votes_per_question`, `voting.temperature`); evaluation calls it for
maj@k and mean@k.

Departure from the reference code, on purpose: there a missing answer is the string "None" and can
win the vote (such questions are filtered later). Here a missing answer still counts in the
denominator m but is never grouped and can never be the pseudo-label, so p_hat is the share of the
m samples that agree on a real answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rzero.core.sampling import Generator, Sampling

if TYPE_CHECKING:
    from rzero.core.domains import Domain

BAND_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Vote:
    """Outcome of a majority vote over m sampled answers."""

    pseudo_label: str | None  # answer of the largest group; None when every answer is missing
    p_hat: float  # |largest group| / m, missing answers included in m
    group_sizes: tuple[int, ...]  # sizes of the equivalence groups, largest first
    missing: int  # how many of the m answers were missing

    @property
    def votes(self) -> int:
        return sum(self.group_sizes) + self.missing


def majority_vote(answers: Sequence[str | None], equivalent: Callable[[str, str], bool]) -> Vote:
    """Group `answers` by `equivalent` and return the largest group's answer and share.

    Each answer joins the first earlier group whose representative (its first member) is
    equivalent to it, so grouping is deterministic even when `equivalent` is not transitive.
    Ties between groups of equal size go to the group whose first member came first.
    """
    if not answers:
        raise ValueError("majority_vote needs at least one answer")
    representatives: list[str] = []
    sizes: list[int] = []
    missing = 0
    for answer in answers:
        if answer is None:
            missing += 1
            continue
        for g, rep in enumerate(representatives):
            if answer == rep or equivalent(answer, rep):
                sizes[g] += 1
                break
        else:
            representatives.append(answer)
            sizes.append(1)
    if not sizes:
        return Vote(None, 0.0, (), missing)
    best = max(range(len(sizes)), key=lambda g: (sizes[g], -g))
    return Vote(representatives[best], sizes[best] / len(answers), tuple(sorted(sizes, reverse=True)), missing)


def in_band(p_hat: float, delta: float = 0.25) -> bool:
    """Whether |p_hat - 1/2| <= delta: the paper's symmetric band, `within_band` of `band_bounds(delta)`."""
    return within_band(p_hat, *band_bounds(delta))


def band_bounds(delta: float, low: float | None = None, high: float | None = None) -> tuple[float, float]:
    """The band as (lowest, highest) p_hat kept: `low`/`high` where given, else 1/2 -/+ delta. The paper's
    band is symmetric (delta = 0.25: 3..7 of 10 votes); the reference code keeps 0.3 <= p_hat <= 0.8
    (3..7 of its 9 votes), which only the asymmetric form expresses."""
    return (0.5 - delta if low is None else low, 0.5 + delta if high is None else high)


def within_band(p_hat: float, low: float, high: float) -> bool:
    """Whether low <= p_hat <= high, with a small tolerance so that a share on a bound counts as inside
    despite floating point (delta = 0.35 gives low = 0.5 - 0.35 = 0.15000000000000002, above 3/20)."""
    return low - BAND_TOLERANCE <= p_hat <= high + BAND_TOLERANCE


@dataclass(frozen=True)
class Ballot:
    """One question put to the Solver: its m extracted answers (None where none was found) and their vote."""

    question: str
    answers: tuple[str | None, ...]
    vote: Vote
    completions: tuple[str, ...] = ()  # the m texts the answers were extracted from


def solver_votes(
    solver: Generator,
    domain: Domain,
    questions: Sequence[str],
    votes_per_question: int,
    temperature: float,
    max_new_tokens: int,
    top_p: float = 1.0,
) -> list[Ballot]:
    """Ask the Solver each question m = `votes_per_question` times (one `generate` call, the
    domain's Solver prompt), extract the answers and majority-vote them; one ballot per question,
    in order. Callers that may hold repeated questions deduplicate first (each is asked once)."""
    if not questions:
        return []
    prompts = [domain.solver_prompt(q) for q in questions]
    outputs = solver.generate(prompts, Sampling(votes_per_question, temperature, top_p, max_new_tokens))
    ballots = []
    for question, samples in zip(questions, outputs, strict=True):
        answers = tuple(domain.extract_answer(c.text) for c in samples)
        texts = tuple(c.text for c in samples)
        ballots.append(Ballot(question, answers, majority_vote(answers, domain.equivalent), texts))
    return ballots
