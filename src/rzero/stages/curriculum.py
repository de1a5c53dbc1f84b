"""Stage: build the Solver's curriculum from the trained Challenger's questions.

The Challenger samples a pool of N questions; malformed and exact-duplicate questions are dropped,
and so are questions equal to a held-out one (same text but for case and whitespace: the run is scored
on those, so it must never train on them); the pre-update Solver answers each m times; the majority
vote gives the pseudo-label and p_hat; the questions in the informative band |p_hat - 1/2| <= delta
(or band_low <= p_hat <= band_high, the reference's asymmetric form) are kept. Where the domain has an
oracle, each row also carries the true answer, for diagnostics only: `solver_rows` strips it before
anything reaches a reward.
"""

from __future__ import annotations

import time

from rzero.config.schema import CurriculumConfig, VotingConfig
from rzero.core.domains import Domain, question_key
from rzero.core.records import CurriculumMetrics, CurriculumRow
from rzero.core.sampling import Generator, Sampling
from rzero.core.voting import solver_votes, within_band


def sample_questions(challenger: Generator, domain: Domain, cfg: CurriculumConfig, max_new_tokens: int) -> dict:
    """N Challenger samples -> distinct well-formed questions, with the counts of what was dropped."""
    sampling = Sampling(cfg.pool_questions, cfg.temperature, cfg.top_p, max_new_tokens)
    completions = challenger.generate([domain.challenger_prompt()], sampling)[0]
    parsed = [domain.parse_question(c.text) for c in completions]
    well_formed = [q for q in parsed if q is not None]
    distinct = list(dict.fromkeys(well_formed))
    return {
        "questions": distinct,
        "sampled": len(completions),
        "malformed": len(completions) - len(well_formed),
        "duplicates": len(well_formed) - len(distinct),
    }


def screen_heldout(questions: list[str], heldout: frozenset[str]) -> tuple[list[str], int]:
    """The questions whose `question_key` is not in `heldout` (the keys of every held-out and benchmark
    question the run evaluates on), and how many were dropped."""
    kept = [q for q in questions if question_key(q) not in heldout]
    return kept, len(questions) - len(kept)


def question_diversity(questions: list[str], tokenize) -> dict:
    """Diversity of distinct questions: mean pairwise BLEU (the repetition penalty's similarity; lower
    is more diverse) and the share of distinct token 3-grams among all 3-grams."""
    from rzero.core.rewards import bleu_distance_matrix

    if len(questions) < 2:
        return {"mean_pairwise_bleu": None, "distinct_3gram_share": None}
    size = len(questions)
    distances = bleu_distance_matrix(questions, tokenize)
    tokens = [tokenize(q) for q in questions]
    grams = [tuple(t[i : i + 3]) for t in tokens for i in range(len(t) - 2)]
    return {
        "mean_pairwise_bleu": round(1.0 - float(distances.sum()) / (size * (size - 1)), 4),
        "distinct_3gram_share": round(len(set(grams)) / len(grams), 4) if grams else None,
    }


def label_questions(
    solver: Generator,
    domain: Domain,
    questions: list[str],
    voting: VotingConfig,
    band: tuple[float, float],
    max_new_tokens: int,
) -> list[CurriculumRow]:
    """One row per question: the Solver's m answers, pseudo-label, p_hat, group sizes, band membership,
    and where the domain has an oracle, the true answer (diagnostics only)."""
    rows = []
    for ballot in solver_votes(
        solver, domain, questions, voting.votes_per_question, voting.temperature, max_new_tokens
    ):
        vote, truth = ballot.vote, domain.oracle(ballot.question)
        rows.append(
            CurriculumRow(
                question=ballot.question,
                difficulty=domain.difficulty(ballot.question),
                answers=list(ballot.answers),
                pseudo_label=vote.pseudo_label,
                p_hat=vote.p_hat,
                group_sizes=list(vote.group_sizes),
                in_band=within_band(vote.p_hat, *band),
                oracle_answer=truth,
                pseudo_label_correct=None
                if truth is None
                else vote.pseudo_label is not None and domain.equivalent(vote.pseudo_label, truth),
            )
        )
    return rows


def keep(rows: list[CurriculumRow], cfg: CurriculumConfig) -> list[CurriculumRow]:
    """The curriculum: in-band rows (all labelled rows when the band filter is off)."""
    labelled = [r for r in rows if r.pseudo_label is not None]
    return [r for r in labelled if r.in_band] if cfg.band_filter else labelled


def empty_reason(metrics: CurriculumMetrics, band: tuple[float, float]) -> str:
    """Why a curriculum came out empty, from the curriculum stage's metrics, in words a user can act on."""
    if metrics.sampled and metrics.malformed == metrics.sampled:
        return (
            f"the Challenger posed no well-formed question in {metrics.sampled} samples "
            "(check the Challenger prompt, challenger.max_new_tokens, or the Challenger's training)"
        )
    if not metrics.labelled:
        return "no question to label"
    if metrics.unlabelled == metrics.labelled:
        return (
            f"the Solver gave no extractable answer to any of {metrics.labelled} questions "
            "(check solver.max_new_tokens and the Solver prompt)"
        )
    low, high = band
    return f"no question had p_hat in [{low:g}, {high:g}] (all too easy or too hard for the Solver)"


def solver_rows(curriculum: list[CurriculumRow], labels: str = "votes") -> list[dict]:
    """What the Solver stage may see: question and pseudo-label only, never an oracle field.

    labels="oracle" is a diagnostic, not R-Zero: the same questions (chosen by the same votes) with
    the domain's exact answers as labels, which bounds what better pseudo-labels could give."""
    if labels == "oracle":
        if any(r.oracle_answer is None for r in curriculum):
            raise ValueError("curriculum.labels=oracle needs a domain with an oracle (the arithmetic domain)")
        return [{"question": r.question, "pseudo_label": r.oracle_answer} for r in curriculum]
    return [{"question": r.question, "pseudo_label": r.pseudo_label} for r in curriculum]


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def build_curriculum(
    challenger: Generator,
    solver: Generator,
    domain: Domain,
    cfg: CurriculumConfig,
    voting: VotingConfig,
    challenger_max_new_tokens: int,
    solver_max_new_tokens: int,
    heldout: frozenset[str] = frozenset(),
) -> tuple[list[CurriculumRow], list[CurriculumRow], CurriculumMetrics]:
    """Sample, screen out held-out questions (`heldout`: their `question_key`s), label, filter.
    Returns (all labelled rows, the curriculum, metrics)."""
    started = time.time()
    pool = sample_questions(challenger, domain, cfg, challenger_max_new_tokens)
    questions, dropped = screen_heldout(pool["questions"], heldout)
    rows = label_questions(solver, domain, questions, voting, cfg.band, solver_max_new_tokens)
    curriculum = keep(rows, cfg)
    diversity = question_diversity(pool["questions"], domain.bleu_tokens)
    checked = [r.pseudo_label_correct for r in curriculum if r.pseudo_label_correct is not None]
    return (
        rows,
        curriculum,
        CurriculumMetrics(
            sampled=pool["sampled"],
            malformed=pool["malformed"],
            duplicates=pool["duplicates"],
            heldout_dropped=dropped,
            labelled=len(rows),
            unlabelled=sum(r.pseudo_label is None for r in rows),
            kept=len(curriculum),
            kept_fraction=len(curriculum) / len(rows) if rows else 0.0,
            mean_p_hat=_mean([r.p_hat for r in curriculum]),
            distinct_fraction=len(pool["questions"]) / pool["sampled"] if pool["sampled"] else 0.0,
            mean_pairwise_bleu=diversity["mean_pairwise_bleu"],
            distinct_3gram_share=diversity["distinct_3gram_share"],
            pool_mean_difficulty=_mean([r.difficulty for r in rows if r.difficulty is not None]),
            mean_difficulty=_mean([r.difficulty for r in curriculum if r.difficulty is not None]),
            pseudo_label_accuracy=_mean(checked),
            seconds=round(time.time() - started, 1),
        ),
    )
