"""Degenerate phases: each ends in a defined outcome with a message that says what happened."""

import math

import pytest
import torch
from tests.test_loop import tiny_config

from rzero.core.domains.arithmetic import ArithmeticDomain
from rzero.core.records import CurriculumMetrics, EvaluateMetrics, IterationRecord, PhaseFailed, SolverMetrics
from rzero.engines.checkpoints import check_finite
from rzero.run.loop import phase_warnings, run

QUIET = {"log": lambda *_: None}


def run_logged(cfg, out):
    messages = []
    summary = run(cfg, out, log=messages.append)
    return summary, messages


def test_challenger_that_poses_nothing_well_formed(tmp_path, monkeypatch):
    monkeypatch.setattr(ArithmeticDomain, "parse_question", lambda self, text: None)
    summary, messages = run_logged(tiny_config("challenger.grpo_steps=1"), tmp_path)
    it = summary.iterations[1]
    assert it.challenger.well_formed == 0 and it.curriculum.kept == 0
    assert it.solver.trained is False and it.evaluate.greedy_accuracy is not None
    assert any("posed no well-formed question during training" in m for m in messages)
    expected = "empty curriculum, Solver not trained: the Challenger posed no well-formed question"
    assert any(expected in m for m in messages)


def test_empty_curriculum_after_the_band(tmp_path, monkeypatch):
    import rzero.stages.curriculum

    monkeypatch.setattr(rzero.stages.curriculum, "within_band", lambda p_hat, low, high: False)
    summary, messages = run_logged(tiny_config("challenger.train=false"), tmp_path)
    it = summary.iterations[1]
    assert it.curriculum.kept == 0 and it.curriculum.labelled > 0
    assert it.solver.trained is False
    assert (tmp_path / "iter_01" / "solver" / "model" / "model.safetensors").exists()  # S(1) = S(0)
    assert any("no question had p_hat in [0.25, 0.75]" in m for m in it.warnings)


def test_solver_that_never_boxes_an_answer(tmp_path):
    cfg = tiny_config("challenger.train=false", "solver.max_new_tokens=4")  # never reaches \\boxed{}
    summary, messages = run_logged(cfg, tmp_path)
    it = summary.iterations[1]
    assert it.curriculum.unlabelled == it.curriculum.labelled > 0
    assert it.solver.trained is False
    assert any("the Solver gave no extractable answer to any of" in w for w in it.warnings)


def test_solver_phase_without_answers_is_reported():
    entry = IterationRecord(
        iteration=1,
        evaluate=EvaluateMetrics(),
        curriculum=CurriculumMetrics(kept=5),
        solver=SolverMetrics(trained=True, answered_fraction=0.0, rollouts=80),
    )
    assert phase_warnings(entry, (0.25, 0.75)) == [
        "the Solver extracted no answer in any of 80 rollouts: every reward was 0, nothing was learned "
        "(check solver.max_new_tokens and the Solver prompt)"
    ]


def test_check_finite_names_the_step_and_the_parameter():
    model = torch.nn.Linear(2, 2)
    check_finite(model.state_dict(), [{"step": 1, "loss": 0.5}], "solver GRPO")
    with pytest.raises(PhaseFailed, match="solver GRPO: loss not finite from step 3"):
        check_finite(model.state_dict(), [{"step": 2, "loss": 0.1}, {"step": 3, "loss": math.nan}], "solver GRPO")
    model.weight.data[0, 0] = math.inf
    with pytest.raises(PhaseFailed, match="parameter weight not finite"):
        check_finite(model.state_dict(), [], "challenger GRPO")


def test_nan_weights_stop_the_run_without_a_marker(tmp_path, monkeypatch):
    from trl import GRPOTrainer

    original = GRPOTrainer.train

    def train_then_break(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        next(self.model.parameters()).data.fill_(math.nan)
        return result

    monkeypatch.setattr(GRPOTrainer, "train", train_then_break)
    summary, messages = run_logged(tiny_config("challenger.grpo_steps=1", "iterations=2"), tmp_path)
    assert summary.stopped["iteration"] == 1 and "challenger GRPO" in summary.stopped["reason"]
    assert "not finite" in summary.stopped["reason"] and len(summary.iterations) == 1
    assert not (tmp_path / "iter_01" / "challenger" / "DONE").exists()
    assert not (tmp_path / "iter_01" / "challenger" / "model").exists()
    assert any(m.startswith("error: iteration 1: challenger GRPO") for m in messages)
