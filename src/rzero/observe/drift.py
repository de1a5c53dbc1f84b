"""Drift and collapse detection over the per-iteration summary: pure functions, one per trigger.

Self-play fails quietly: the paper's Solver plateaus or collapses after about three iterations, its
pseudo-labels decay, and a Challenger can learn to game its reward with near-duplicate questions.
`check` looks at the iterations finished so far (`IterationRecord`s, as summary.json holds them) and returns
an alert for every trigger that fires on the latest one. The loop prints them and stores them in the
summary; with `monitor.early_stop` set it stops the run on a label-free trigger only (`stopping`).

Triggers (thresholds in `MonitorConfig`):
- accuracy_drop: held-out greedy accuracy fell more than `accuracy_drop` below the best so far
  (reported, never a reason to stop: the held-out set must not steer training);
- diversity_collapse: the question pool's mean pairwise BLEU rose above `max_pool_bleu`, or its share
  of distinct well-formed questions fell below `min_distinct_fraction`;
- keep_rate_collapse: the band kept less than `min_keep_fraction` of the labelled questions;
- reward_saturation: the Challenger's mean reward reached `reward_saturation` (a reward this easy to
  earn usually means the Challenger found a shortcut rather than the Solver's frontier).
"""

from __future__ import annotations

from rzero.core.records import Alert, IterationRecord


def accuracy_drop(history: list[IterationRecord], limit: float) -> Alert | None:
    scores = [it.evaluate.greedy_accuracy for it in history]
    earlier = [s for s in scores[:-1] if s is not None]
    if not earlier or scores[-1] is None:
        return None
    best = max(earlier)
    if best - scores[-1] > limit:
        return Alert(
            trigger="accuracy_drop",
            iteration=history[-1].iteration,
            message=f"held-out accuracy {scores[-1]:.3f} is {best - scores[-1]:.3f} below the best so far ({best:.3f})",
        )
    return None


def diversity_collapse(history: list[IterationRecord], max_bleu: float, min_distinct: float) -> Alert | None:
    cur = history[-1].curriculum
    if cur is None:
        return None
    bleu, distinct = cur.mean_pairwise_bleu, cur.distinct_fraction
    problems = []
    if bleu is not None and bleu > max_bleu:
        problems.append(f"mean pairwise BLEU of the question pool {bleu:.3f} > {max_bleu}")
    if distinct is not None and distinct < min_distinct:
        problems.append(f"distinct well-formed questions {distinct:.3f} of the pool < {min_distinct}")
    if problems:
        return Alert(trigger="diversity_collapse", iteration=history[-1].iteration, message="; ".join(problems))
    return None


def keep_rate_collapse(history: list[IterationRecord], min_keep: float) -> Alert | None:
    cur = history[-1].curriculum
    if cur is not None and cur.kept_fraction < min_keep:
        return Alert(
            trigger="keep_rate_collapse",
            iteration=history[-1].iteration,
            message=f"the band kept {cur.kept_fraction:.3f} of the labelled questions (< {min_keep})",
        )
    return None


def reward_saturation(history: list[IterationRecord], limit: float) -> Alert | None:
    challenger = history[-1].challenger
    reward = challenger.reward if challenger else None
    if reward is not None and reward >= limit:
        return Alert(
            trigger="reward_saturation",
            iteration=history[-1].iteration,
            message=f"the Challenger's mean reward {reward:.3f} reached {limit}: check its questions for a shortcut",
        )
    return None


STOPPING_TRIGGERS = ("diversity_collapse", "keep_rate_collapse", "reward_saturation")


def stopping(alerts: list[Alert]) -> list[Alert]:
    """The alerts `monitor.early_stop` may end a run on: the label-free triggers, read from the
    question pool, the band and the Challenger's reward. `accuracy_drop` reads the held-out set; a
    run that stopped on it would let the test set choose the checkpoint it is then scored on, so it
    stays an alert in the summary and the log, and the run goes on."""
    return [alert for alert in alerts if alert.trigger in STOPPING_TRIGGERS]


def check(history: list[IterationRecord], cfg) -> list[Alert]:
    """All alerts for the latest iteration of `history`, given a `MonitorConfig`."""
    if not history or history[-1].iteration == 0:
        return []
    found = [
        accuracy_drop(history, cfg.accuracy_drop),
        diversity_collapse(history, cfg.max_pool_bleu, cfg.min_distinct_fraction),
        keep_rate_collapse(history, cfg.min_keep_fraction),
        reward_saturation(history, cfg.reward_saturation),
    ]
    return [alert for alert in found if alert is not None]
