"""The sections of the paper's loop: the frozen Solver's votes, the Challenger, the curriculum, the
Solver, and the GRPO loss both roles train with. Each field has the paper's value as its default, else the
reference code's (docs/paper-in-code.md, value by value); `RunConfig` in `rzero.config.schema` holds them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rzero.config.fields import GPUsOrCPU, Real, Section
from rzero.core.voting import band_bounds


def _update_rules(role: str, cfg, prompts_name: str, prompts: int, rollouts_name: str, rollouts: int):
    """A GRPO step's prompts split evenly into `updates_per_step` optimizer updates, and each update's
    sequences evenly into micro-batches (TRL scores whole groups over the whole round before it splits the
    round, so a micro-batch need not hold whole groups; the split among processes is checked at launch)."""
    updates, micro = cfg.updates_per_step, cfg.sequences_per_micro_batch
    if prompts % updates:
        raise ValueError(
            f"{role}.updates_per_step={updates} must divide {role}.{prompts_name} ({prompts}): each optimizer "
            "update takes an equal share of the step's prompts"
        )
    per_update = prompts // updates * rollouts
    if micro and per_update % micro:
        raise ValueError(
            f"{role}.sequences_per_micro_batch={micro} must divide one update's sequences, {role}.{prompts_name} "
            f"/ updates_per_step x {rollouts_name} ({per_update})"
        )


class VotingConfig(Section):
    """How the frozen Solver votes: the same m and temperature for the Challenger's uncertainty reward
    and for the curriculum's pseudo-labels (and the probe), as in the paper."""

    votes_per_question: int = Field(10, ge=2)
    """m, Solver samples per question (the paper: 10); a majority vote needs several answers."""
    temperature: Real = Field(1.0, ge=0)
    """Sampling temperature of those votes (the paper: 1.0)."""


class ChallengerConfig(Section):
    train: bool = True
    """false = the paper's Base-Challenger ablation (untrained question generator)."""
    grpo_steps: int = Field(5, ge=0)
    """GRPO steps of the Challenger phase (the paper: 5): each generates prompts_per_step x rollouts_per_prompt
    questions, rewards them together, and makes updates_per_step optimizer updates on them."""
    prompts_per_step: int = Field(512, ge=1)
    """Challenger prompts per GRPO step (the reference: 512, so 2048 questions share one repetition penalty)."""
    updates_per_step: int = Field(4, ge=1)
    """Optimizer updates per GRPO step, each on 1/updates_per_step of the step's questions, drawn at random
    from the round (TRL shuffles it before it splits). The paper's table: 128 prompts per update, 4 updates;
    the reference code: 16 per update, 32 updates."""
    rollouts_per_prompt: int = Field(4, ge=1)
    """Questions generated per prompt, one GRPO group (the paper: 4)."""
    learning_rate: Real = Field(1e-6, ge=0)
    """Constant learning rate of the Challenger's optimizer (the paper: 1e-6)."""
    kl_coef: Real = Field(1e-2, ge=0)
    """Weight of the KL term to the reference model (the paper: 1e-2)."""
    temperature: Real = Field(1.0, ge=0)
    """Sampling temperature of the Challenger's rollouts (the paper: 1.0)."""
    top_p: Real = Field(0.99, gt=0, le=1)
    """Nucleus sampling of the Challenger's rollouts (the paper: 0.99)."""
    max_new_tokens: int = Field(64, ge=1)
    """Longest question the Challenger may write, in tokens."""
    reward_variant: Literal["paper", "reference"] = "paper"
    """paper: max(0, r_unc - r_rep), 0 for a malformed question; reference: the reference code's formula."""
    repetition_penalty: bool = True
    """false = the paper's no-repetition-penalty ablation."""
    bleu_tau: Real = Field(0.5, gt=0)
    """Clustering distance threshold of the repetition penalty (the paper: 0.5)."""
    penalty_lambda: Real = Field(1.0, ge=0)
    """Weight lambda of the repetition penalty (the paper: 1)."""
    solver_server_devices: GPUsOrCPU = ""
    """e.g. "4,5,6,7": the frozen Solver as a vLLM server process on these GPUs; "cpu": the same server on
    CPU (needs vLLM's CPU build)."""
    sequences_per_micro_batch: int = Field(0, ge=0)
    """Per process and forward pass; 0 = a process's whole share of one optimizer update."""

    @model_validator(mode="after")
    def _groups(self) -> ChallengerConfig:
        if self.rollouts_per_prompt < 2 and self.train:
            raise ValueError("challenger.rollouts_per_prompt must be >= 2: GRPO compares rollouts within a group")
        _update_rules(
            "challenger",
            self,
            "prompts_per_step",
            self.prompts_per_step,
            "rollouts_per_prompt",
            self.rollouts_per_prompt,
        )
        return self


class CurriculumConfig(Section):
    pool_questions: int = Field(8000, ge=1)
    """N, questions sampled from the trained Challenger (the paper: 8000)."""
    temperature: Real = Field(1.0, ge=0)
    """Sampling temperature of the pool (the paper: 1.0)."""
    top_p: Real = Field(0.95, gt=0, le=1)
    """Nucleus sampling of the pool (the reference's question generation: 0.95; the paper names none)."""
    band_delta: Real = Field(0.25, gt=0, le=0.5)
    """Keep |p_hat - 1/2| <= delta (the paper: 0.25; 0.5 keeps everything, or set band_filter=false): shorthand
    for band_low = 1/2 - delta, band_high = 1/2 + delta."""
    band_low: Real | None = Field(None, ge=0, le=1)
    """Lowest p_hat kept; unset = 1/2 - band_delta (the reference code keeps 0.3 <= p_hat <= 0.8)."""
    band_high: Real | None = Field(None, ge=0, le=1)
    """Highest p_hat kept; unset = 1/2 + band_delta."""
    band_filter: bool = True
    """false = the paper's no-filter ablation."""
    labels: Literal["votes", "oracle"] = "votes"
    """oracle: diagnostic upper bound, exact answers as rewards (needs a domain with an oracle)."""

    @property
    def band(self) -> tuple[float, float]:
        """(lowest, highest) p_hat kept: band_low/band_high where set, else 1/2 -/+ band_delta."""
        return band_bounds(self.band_delta, self.band_low, self.band_high)

    @model_validator(mode="after")
    def _band_order(self) -> CurriculumConfig:
        low, high = self.band
        if low > high:
            raise ValueError(f"curriculum.band_low ({low:g}) must not exceed curriculum.band_high ({high:g})")
        return self


class SolverConfig(Section):
    grpo_steps: int = Field(15, ge=0)
    """GRPO steps of the Solver phase (the paper: 15): each generates questions_per_step x rollouts_per_question
    answers and makes updates_per_step optimizer updates on them."""
    questions_per_step: int = Field(512, ge=1)
    """Curriculum questions per GRPO step (the reference: 512)."""
    updates_per_step: int = Field(4, ge=1)
    """Optimizer updates per GRPO step, each on 1/updates_per_step of the step's answers, drawn at random
    from the round (TRL shuffles it before it splits). The paper's table and the reference: 128 questions
    per update, 4 updates."""
    rollouts_per_question: int = Field(5, ge=2)
    """Answers per question, one GRPO group (the paper: 5); GRPO compares rollouts within a group."""
    learning_rate: Real = Field(1e-6, ge=0)
    """Constant learning rate of the Solver's optimizer (the paper: 1e-6)."""
    kl_coef: Real = Field(1e-2, ge=0)
    """Weight of the KL term to the reference model (the paper: 1e-2)."""
    temperature: Real = Field(1.0, ge=0)
    """Sampling temperature of the Solver's rollouts (the paper: 1.0)."""
    top_p: Real = Field(0.99, gt=0, le=1)
    """Nucleus sampling of the Solver's rollouts (the paper's table and the reference: 0.99)."""
    max_new_tokens: int = Field(256, ge=1)
    """Longest answer the Solver may write, in tokens (also its votes)."""
    reward_variant: Literal["binary", "reference"] = "binary"
    """binary: 1 when the answer matches the pseudo-label (the paper); reference: 0.9 x correct + 0.1 x format."""
    sequences_per_micro_batch: int = Field(0, ge=0)
    """Per process and forward pass; 0 = a process's whole share of one optimizer update."""

    @model_validator(mode="after")
    def _groups(self) -> SolverConfig:
        _update_rules(
            "solver",
            self,
            "questions_per_step",
            self.questions_per_step,
            "rollouts_per_question",
            self.rollouts_per_question,
        )
        return self


class GRPOLossConfig(Section):
    """The policy loss and optimizer of both GRPO phases (TRL's GRPOTrainer). The paper names none; the
    defaults are the reference code's (EasyR1 as R-Zero runs it): its loss as it acts, clip ratio 0.2 below
    and 0.3 above, dual-clip 3.0, AdamW weight decay 1e-2. Rewards are scaled by their group's standard
    deviation and the KL term is the low-variance (k3) estimator in both. docs/paper-in-code.md has the table."""

    loss_type: Literal["grpo", "bnpo", "dapo", "dr_grpo"] = "grpo"
    """How token losses are averaged (TRL's loss_type). grpo: each sequence's tokens, then over sequences: what
    the reference's "token-mean" computes, since it averages the tokens of each micro-batch and its Solver's
    micro-batches hold 1 sequence. bnpo: over each micro-batch's tokens. dapo: over every token of the
    optimizer update (about a true token mean: TRL divides by the round's tokens / updates). dr_grpo:
    divided by a constant (max_new_tokens)."""
    clip_ratio_low: Real = Field(0.2, ge=0, lt=1)
    """PPO clip below: the ratio is clipped at 1 - this (TRL's epsilon; the reference: 0.2)."""
    clip_ratio_high: Real = Field(0.3, ge=0)
    """PPO clip above: the ratio is clipped at 1 + this (TRL's epsilon_high; the reference: 0.3)."""
    dual_clip_ratio: Real = Field(3.0, ge=0)
    """Dual-clip: for negative advantages the ratio counts at most this much (TRL's delta; the reference: 3.0);
    0 = off. Must exceed 1 + clip_ratio_high when on."""

    weight_decay: Real = Field(1e-2, ge=0)
    """AdamW weight decay of both roles (the reference: 1e-2; TRL's own default: 0)."""

    @model_validator(mode="after")
    def _dual_clip(self) -> GRPOLossConfig:
        if self.dual_clip_ratio and self.dual_clip_ratio <= 1 + self.clip_ratio_high:
            raise ValueError(
                f"grpo.dual_clip_ratio={self.dual_clip_ratio:g} must exceed 1 + grpo.clip_ratio_high "
                f"({1 + self.clip_ratio_high:g}), or be 0 (off)"
            )
        return self
