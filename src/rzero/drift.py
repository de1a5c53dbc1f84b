"""Drift and collapse detection over the per-iteration summary: pure functions, one per trigger.

Self-play fails quietly: the paper's Solver plateaus or collapses after about three iterations, its
pseudo-labels decay, and a Challenger can learn to game its reward with near-duplicate questions.
`check` looks at the iterations finished so far (the `iterations` list of summary.json) and returns
an alert for every trigger that fires on the latest one. The loop prints them, stores them in the
summary, and stops the run when `monitor.early_stop` is set.

Triggers (thresholds in `MonitorConfig`):
- accuracy_drop: held-out greedy accuracy fell more than `accuracy_drop` below the best so far;
- diversity_collapse: the question pool's mean pairwise BLEU rose above `max_pool_bleu`, or its share
  of distinct well-formed questions fell below `min_distinct_fraction`;
- keep_rate_collapse: the band kept less than `min_keep_fraction` of the labelled questions;
- reward_saturation: the Challenger's mean reward reached `reward_saturation` (a reward this easy to
  earn usually means the Challenger found a shortcut rather than the Solver's frontier).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Alert:
    trigger: str
    iteration: int
    message: str


def accuracy_drop(history: list[dict], limit: float) -> Alert | None:
    scores = [it["evaluate"].get("greedy_accuracy") for it in history]
    if len(scores) < 2 or scores[-1] is None:
        return None
    best = max(s for s in scores[:-1] if s is not None)
    if best - scores[-1] > limit:
        return Alert(
            "accuracy_drop",
            history[-1]["iteration"],
            f"held-out accuracy {scores[-1]:.3f} is {best - scores[-1]:.3f} below the best so far ({best:.3f})",
        )
    return None


def diversity_collapse(history: list[dict], max_bleu: float, min_distinct: float) -> Alert | None:
    cur = history[-1].get("curriculum") or {}
    bleu, distinct = cur.get("mean_pairwise_bleu"), cur.get("distinct_fraction")
    problems = []
    if bleu is not None and bleu > max_bleu:
        problems.append(f"mean pairwise BLEU of the question pool {bleu:.3f} > {max_bleu}")
    if distinct is not None and distinct < min_distinct:
        problems.append(f"distinct well-formed questions {distinct:.3f} of the pool < {min_distinct}")
    if problems:
        return Alert("diversity_collapse", history[-1]["iteration"], "; ".join(problems))
    return None


def keep_rate_collapse(history: list[dict], min_keep: float) -> Alert | None:
    cur = history[-1].get("curriculum") or {}
    kept = cur.get("kept_fraction")
    if kept is not None and kept < min_keep:
        return Alert(
            "keep_rate_collapse",
            history[-1]["iteration"],
            f"the band kept {kept:.3f} of the labelled questions (< {min_keep})",
        )
    return None


def reward_saturation(history: list[dict], limit: float) -> Alert | None:
    reward = (history[-1].get("challenger") or {}).get("reward")
    if reward is not None and reward >= limit:
        return Alert(
            "reward_saturation",
            history[-1]["iteration"],
            f"the Challenger's mean reward {reward:.3f} reached {limit}: check its questions for a shortcut",
        )
    return None


def check(history: list[dict], cfg) -> list[Alert]:
    """All alerts for the latest iteration of `history`, given a `MonitorConfig`."""
    if not history or history[-1]["iteration"] == 0:
        return []
    found = [
        accuracy_drop(history, cfg.accuracy_drop),
        diversity_collapse(history, cfg.max_pool_bleu, cfg.min_distinct_fraction),
        keep_rate_collapse(history, cfg.min_keep_fraction),
        reward_saturation(history, cfg.reward_saturation),
    ]
    return [alert for alert in found if alert is not None]
