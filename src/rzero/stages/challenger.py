"""Stage: train the Challenger with GRPO against the frozen Solver.

Each Challenger rollout is one completion of the fixed Challenger prompt. Its reward
(`ChallengerRewardFunction`) parses the question (format gate), lets the frozen Solver answer every
distinct well-formed question m times, majority-votes, and combines the uncertainty reward with the
repetition penalty over the whole generation round (gathered across processes when there are
several). Every generated question, with its votes, p_hat and reward parts, is kept for the
stage's JSONL file.
"""

from __future__ import annotations

import time
from pathlib import Path

from rzero.config.schema import ChallengerConfig, VotingConfig
from rzero.core.domains import Domain
from rzero.core.records import ChallengerMetrics
from rzero.core.rewards import challenger_reward, repetition_penalty
from rzero.core.sampling import Generator
from rzero.core.voting import solver_votes
from rzero.engines import ranks


class ChallengerRewardFunction:
    """GRPO reward for Challenger rollouts; a closure over the frozen Solver's generator."""

    __name__ = "challenger_reward"

    def __init__(
        self, domain: Domain, solver: Generator, cfg: ChallengerConfig, voting: VotingConfig, solver_max_new_tokens: int
    ):
        self.domain, self.solver, self.cfg, self.voting = domain, solver, cfg, voting
        self.solver_max_new_tokens = solver_max_new_tokens
        self.records: list[dict] = []
        self.calls = 0

    def __call__(self, prompts, completions, log_metric=None, **_) -> list[float]:
        self.calls += 1
        questions = [self.domain.parse_question(c) for c in completions]
        well_formed = [q for q in questions if q is not None]
        distinct = list(dict.fromkeys(well_formed))  # each distinct question is asked once
        ballots = solver_votes(
            self.solver,
            self.domain,
            distinct,
            self.voting.votes_per_question,
            self.voting.temperature,
            self.solver_max_new_tokens,
        )
        votes = {b.question: b for b in ballots}
        everyone, offset = ranks.gather(well_formed)  # the whole round, every rank's share
        if self.cfg.repetition_penalty and everyone:
            all_penalties = repetition_penalty(
                everyone, self.cfg.bleu_tau, self.cfg.penalty_lambda, tokenize=self.domain.bleu_tokens
            )
        else:
            all_penalties = [0.0] * len(everyone)
        local = iter(all_penalties[offset : offset + len(well_formed)])
        penalties = [next(local) if q is not None else 0.0 for q in questions]
        p_hats = [votes[q].vote.p_hat if q is not None else None for q in questions]
        rewards = challenger_reward(p_hats, penalties, self.cfg.reward_variant)
        for completion, question, reward in zip(completions, questions, rewards, strict=True):
            ballot = votes[question] if question is not None else None
            vote = ballot.vote if ballot else None
            self.records.append(
                {
                    "step": self.calls,
                    "completion": completion,
                    "question": question,
                    "answers": list(ballot.answers) if ballot else None,
                    "pseudo_label": vote.pseudo_label if vote else None,
                    "p_hat": vote.p_hat if vote else None,
                    "group_sizes": list(vote.group_sizes) if vote else None,
                    "reward": reward.total,
                    "uncertainty": reward.uncertainty,
                    "repetition": reward.repetition,
                    "well_formed": reward.well_formed,
                }
            )
        if log_metric is not None:
            count = len(rewards)
            log_metric("challenger/well_formed", sum(r.well_formed for r in rewards) / count)
            log_metric("challenger/uncertainty", sum(r.uncertainty for r in rewards) / count)
            log_metric("challenger/repetition", sum(r.repetition for r in rewards) / count)
            valid = [p for p in p_hats if p is not None]
            log_metric("challenger/p_hat", sum(valid) / len(valid) if valid else 0.0)
        return [r.total for r in rewards]


def summarize_records(records: list[dict], domain: Domain) -> ChallengerMetrics:
    """Means of the reward parts and question statistics over a stage's records (one per rollout)."""
    if not records:
        return ChallengerMetrics(trained=True)
    valid = [r for r in records if r["well_formed"]]
    levels = [domain.difficulty(r["question"]) for r in valid]
    levels = [x for x in levels if x is not None]
    mean = lambda key, rows: sum(r[key] for r in rows) / len(rows) if rows else 0.0  # noqa: E731
    return ChallengerMetrics(
        trained=True,
        questions=len(records),
        well_formed=len(valid) / len(records),
        reward=mean("reward", records),
        uncertainty=mean("uncertainty", records),
        repetition=mean("repetition", records),
        p_hat=mean("p_hat", valid),
        distinct_questions=len({r["question"] for r in valid}),
        mean_difficulty=sum(levels) / len(levels) if levels else None,
    )


def train_challenger(
    model_dir: Path,
    solver: Generator,
    domain: Domain,
    cfg: ChallengerConfig,
    voting: VotingConfig,
    out_dir: Path,
    solver_max_new_tokens: int,
    seed: int,
    model=None,
    vllm_server_url: str = "",
    loss=None,
) -> tuple[list[dict], ChallengerMetrics]:
    """GRPO on the Challenger in `model_dir`; saves the trained model to out_dir/model.

    Returns the per-question records (one per rollout of every rank, for questions.jsonl) and the stage
    metrics over all of them.
    `vllm_server_url`: the `trl vllm-serve` of this phase (model.vllm_mode=server), else "". `loss`: the
    run's `GRPOLossConfig` (default: the reference's loss).
    """
    from rzero.engines.grpo import phase_for, prompt_dataset, train_phase

    started = time.time()
    reward = ChallengerRewardFunction(domain, solver, cfg, voting, solver_max_new_tokens)
    phase = phase_for(cfg, cfg.prompts_per_step, cfg.rollouts_per_prompt, seed, model, vllm_server_url, loss)
    prompts = [domain.challenger_prompt()] * (cfg.grpo_steps * cfg.prompts_per_step)
    shown = ("reward", "challenger/uncertainty", "challenger/repetition", "challenger/well_formed", "kl")
    train_phase(model_dir, prompt_dataset(prompts), [reward], phase, out_dir, "challenger GRPO", shown)
    records = ranks.gather_rounds(reward.records)
    metrics = summarize_records(records, domain)
    metrics.seconds = round(time.time() - started, 1)
    return records, metrics
