"""The skills domain through the whole loop (issue 31): a tiny skills base built by `pretrain.train`, one
tiny iteration, per-family held-out figures and the unlocked-family count read from them."""

import json

from tests.test_pretrain import TINY

from rzero.base_model.pretrain import PretrainConfig, train
from rzero.config.load import DEFAULT_CONFIG, load_config
from rzero.core.domains.skills import FAMILIES
from rzero.core.records import RunSummary, from_json
from rzero.run.loop import run

TINY_MODEL = {**TINY, "domain": "skills", "level_weights": {n: 1.0 for n in range(1, len(FAMILIES) + 1)}}
TINY_LOOP = [
    "domain=skills",
    "iterations=1",
    "challenger.grpo_steps=1",
    "challenger.prompts_per_step=4",
    "challenger.rollouts_per_prompt=4",
    "voting.votes_per_question=4",
    "curriculum.pool_questions=24",
    "solver.grpo_steps=1",
    "solver.questions_per_step=4",
    "solver.rollouts_per_question=4",
    "solver.max_new_tokens=48",
    "eval.max_new_tokens=48",
    "eval.problems=24",
    "model.threads=2",
]


def test_one_tiny_skills_iteration_reports_per_family_figures(tmp_path):
    train(PretrainConfig(**TINY_MODEL), tmp_path / "base", log_every=0)
    cfg = load_config(DEFAULT_CONFIG, [*TINY_LOOP, f"model.path={tmp_path / 'base'}"])
    run(cfg, tmp_path / "run", log=lambda *_: None)
    summary = from_json(RunSummary, json.loads((tmp_path / "run" / "summary.json").read_text()))
    held = summary.iterations[0].evaluate.heldout
    # eval.problems=24 spreads over the difficulties, here the twelve families: two of each
    assert held is not None and set(held.worked_share_by_difficulty) == {str(n) for n in range(1, 13)}
    assert [k for k, _ in summary.unlocked_levels()] == [0, 1] and summary.unlocked_levels()[0] == (0, [])
    assert (tmp_path / "run" / "iter_01" / "evaluate" / "DONE").is_file()
