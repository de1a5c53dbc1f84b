"""Run configuration: defaults are the paper's, YAML and overrides, errors name the field."""

import pytest

from rzero.config.load import dump_yaml, load_config
from rzero.config.schema import ConfigError, RunConfig


def test_defaults_are_the_papers():
    cfg = load_config()
    assert cfg == RunConfig()
    assert cfg.voting.votes_per_question == 10 and cfg.voting.temperature == 1.0 and cfg.curriculum.band_delta == 0.25
    assert cfg.challenger.bleu_tau == 0.5 and cfg.challenger.penalty_lambda == 1.0
    assert cfg.challenger.reward_variant == "paper" and cfg.solver.reward_variant == "binary"
    assert cfg.challenger.grpo_steps == 5 and cfg.solver.grpo_steps == 15
    assert cfg.challenger.learning_rate == 1e-6 and cfg.solver.kl_coef == 1e-2


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("iterations: 2\nchallenger:\n  grpo_steps: 3\n  reward_variant: reference\n")
    cfg = load_config(path, ["challenger.grpo_steps=7", "curriculum.band_filter=false", "solver.learning_rate=2e-5"])
    assert cfg.iterations == 2 and cfg.challenger.grpo_steps == 7 and cfg.challenger.reward_variant == "reference"
    assert cfg.curriculum.band_filter is False and cfg.solver.learning_rate == 2e-5
    assert load_config(None, ["challenger.kl_coef=0"]).challenger.kl_coef == 0.0  # int accepted for a float
    assert "band_delta: 0.25" in dump_yaml(cfg)


@pytest.mark.parametrize(
    "override, message",
    [
        ("challenger.grpo_stepz=3", "unknown field challenger.grpo_stepz"),
        ("challenger.grpo_steps=three", "challenger.grpo_steps must be an integer"),
        ("challenger.grpo_steps=2.5", "challenger.grpo_steps must be an integer"),
        ("curriculum.band_filter=maybe", "curriculum.band_filter must be true or false"),
        ("challenger.reward_variant=mine", "challenger.reward_variant must be one of"),
        ("curriculum.band_delta=0.7", "curriculum.band_delta must be in"),
        ("curriculum.top_p=0", "curriculum.top_p must be in"),
        ("iterations=0", "iterations must be >= 1"),
        ("solver.rollouts_per_question=1", "solver.rollouts_per_question must be >= 2"),
        ("challenger.learning_rate=-1", "challenger.learning_rate must be >= 0"),
        ("solver.learning_rate=fast", "solver.learning_rate must be a number"),
        ("challenger=3", "challenger must be a mapping"),
        ("iterations", "must look like section.field=value"),
    ],
)
def test_errors_name_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("iterations: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_base_challenger_ablation_allows_one_rollout():
    cfg = load_config(None, ["challenger.train=false", "challenger.rollouts_per_prompt=1"])
    assert cfg.challenger.train is False
