"""Stage: train the Solver with GRPO on its curriculum of pseudo-labelled questions.

The reward of a rollout is whether its extracted answer is equivalent to the question's
pseudo-label (paper: binary; reference code: 0.9 * correct + 0.1 * format). The dataset carries
the question's prompt and pseudo-label only: no oracle answer can reach the reward.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from rzero.config.schema import SolverConfig
from rzero.core.domains import Domain
from rzero.core.records import SolverMetrics
from rzero.core.rewards import solver_reward
from rzero.engines import ranks


class SolverRewardFunction:
    """GRPO reward for Solver rollouts against the pseudo-label of their question."""

    __name__ = "solver_reward"

    def __init__(self, domain: Domain, cfg: SolverConfig):
        self.domain, self.cfg = domain, cfg
        self.records: list[dict] = []
        self.calls = 0

    def __call__(self, prompts, completions, pseudo_label, log_metric=None, **_) -> list[float]:
        self.calls += 1
        rewards = []
        answered = correct_count = 0
        for prompt, completion, label in zip(prompts, completions, pseudo_label, strict=True):
            answer = self.domain.extract_answer(completion)
            correct = answer is not None and self.domain.equivalent(answer, label)
            reward = solver_reward(correct, answer is not None, self.cfg.reward_variant)
            rewards.append(reward)
            answered += answer is not None
            correct_count += correct
            self.records.append(
                {
                    "step": self.calls,
                    "prompt": prompt,
                    "completion": completion,
                    "answer": answer,
                    "pseudo_label": label,
                    "reward": reward,
                }
            )
        if log_metric is not None and rewards:
            log_metric("solver/agrees_with_pseudo_label", correct_count / len(rewards))
            log_metric("solver/answered", answered / len(rewards))
        return rewards


def training_prompts(rows: list[dict], domain: Domain, count: int, seed: int) -> tuple[list[str], list[str]]:
    """`count` (prompt, pseudo-label) pairs: the curriculum in shuffled passes, as many as needed."""
    order: list[dict] = []
    rng = random.Random(seed)
    while len(order) < count:
        batch = list(rows)
        rng.shuffle(batch)
        order += batch
    order = order[:count]
    return [domain.solver_prompt(r["question"]) for r in order], [r["pseudo_label"] for r in order]


def train_solver(
    model_dir: Path,
    rows: list[dict],
    domain: Domain,
    cfg: SolverConfig,
    out_dir: Path,
    seed: int,
    model=None,
    vllm_server_url: str = "",
    loss=None,
) -> tuple[list[dict], SolverMetrics]:
    """GRPO on the Solver in `model_dir` over `rows` (question, pseudo_label); saves out_dir/model.
    `vllm_server_url`: the `trl vllm-serve` of this phase (model.vllm_mode=server), else "". `loss`: the
    run's `GRPOLossConfig` (default: the reference's loss)."""
    from rzero.engines.grpo import phase_for, prompt_dataset, train_phase

    started = time.time()
    forbidden = {key for row in rows for key in row} - {"question", "pseudo_label"}
    if forbidden:
        raise ValueError(f"solver rows may hold only question and pseudo_label, found {sorted(forbidden)}")
    reward = SolverRewardFunction(domain, cfg)
    phase = phase_for(cfg, cfg.questions_per_step, cfg.rollouts_per_question, seed, model, vllm_server_url, loss)
    dataset = None
    if rows and cfg.grpo_steps > 0:
        prompts, labels = training_prompts(rows, domain, cfg.grpo_steps * cfg.questions_per_step, seed)
        dataset = prompt_dataset(prompts, {"pseudo_label": labels})
    train_phase(model_dir, dataset, [reward], phase, out_dir, "solver GRPO", ("reward", "solver/answered", "kl"))
    records = ranks.gather_rounds(reward.records)
    return records, SolverMetrics(
        trained=bool(rows) and cfg.grpo_steps > 0,
        curriculum_questions=len(rows),
        rollouts=len(records),
        mean_reward=sum(r["reward"] for r in records) / len(records) if records else None,
        answered_fraction=sum(r["answer"] is not None for r in records) / len(records) if records else None,
        seconds=round(time.time() - started, 1),
    )
