"""The stages' reward functions and data steps on scripted generators (no model, no trainer)."""

import pytest

from rzero.config.schema import ChallengerConfig, CurriculumConfig, SolverConfig, VotingConfig
from rzero.core.domains import question_key
from rzero.core.domains.arithmetic import ArithmeticDomain
from rzero.core.records import CurriculumRow
from rzero.engines.generation import ScriptedGenerator
from rzero.stages.challenger import ChallengerRewardFunction, summarize_records
from rzero.stages.curriculum import build_curriculum, screen_heldout, solver_rows
from rzero.stages.solver import SolverRewardFunction, training_prompts

D = ArithmeticDomain()

# The Solver's ten answers per question: "1+1" always 2 (p_hat 1), "2*3" 6 five times (p_hat 0.5),
# "9-4" 5 three times and 4 seven times (majority wrong, p_hat 0.7).
ANSWERS = {
    "1+1": ["2"] * 10,
    "2*3": ["6"] * 5 + ["7", "8", "9", "1", None],
    "9-4": ["5"] * 3 + ["4"] * 7,
}


def solver_script(prompt, i):
    question = prompt.removeprefix("Problem: ").split("\n")[0]
    answer = ANSWERS[question][i]
    return "x" if answer is None else f"\\boxed{{{answer}}}"


def test_challenger_reward_votes_once_per_distinct_question():
    solver = ScriptedGenerator(solver_script)
    cfg = ChallengerConfig(repetition_penalty=False)
    reward = ChallengerRewardFunction(D, solver, cfg, VotingConfig(votes_per_question=10), solver_max_new_tokens=32)
    completions = ["<question>2*3</question>", "<question>2*3</question>", "<question>1+1</question>", "junk"]
    logged = {}
    rewards = reward(prompts=["p"] * 4, completions=completions, log_metric=logged.__setitem__)
    assert rewards == pytest.approx([1.0, 1.0, 0.0, 0.0])  # r_unc = 1 - 2|p_hat - 1/2|; malformed -> 0
    assert len(solver.calls) == 1 and solver.calls[0][0] == [D.solver_prompt("2*3"), D.solver_prompt("1+1")]
    assert solver.calls[0][1].samples_per_prompt == 10 and solver.calls[0][1].temperature == 1.0
    first = reward.records[0]
    assert first["p_hat"] == 0.5 and first["pseudo_label"] == "6" and first["answers"][-1] is None
    assert reward.records[3]["well_formed"] is False and reward.records[3]["reward"] == 0.0
    assert logged["challenger/well_formed"] == 0.75
    summary = summarize_records(reward.records, D)
    assert summary.questions == 4 and summary.distinct_questions == 2 and summary.well_formed == 0.75


def test_challenger_reward_penalises_repeats_over_the_whole_round():
    solver = ScriptedGenerator(solver_script)
    cfg = ChallengerConfig()  # penalty on, tau 0.5, lambda 1
    reward = ChallengerRewardFunction(D, solver, cfg, VotingConfig(votes_per_question=10), solver_max_new_tokens=32)
    completions = ["<question>2*3</question>"] * 3 + ["<question>9-4</question>"]
    rewards = reward(prompts=["p"] * 4, completions=completions)
    # three identical questions form one cluster of 3 in a round of 4 well-formed: penalty 3/4
    assert [r["repetition"] for r in reward.records] == pytest.approx([0.75, 0.75, 0.75, 0.25])
    assert rewards == pytest.approx([0.25, 0.25, 0.25, 0.6 - 0.25])


def test_curriculum_keeps_the_band_and_hides_the_oracle():
    pool = [
        "<question>1+1</question>",
        "<question>2*3</question>",
        "<question>2*3</question>",
        "bad",
        "",
        "<question>1+1</question>",
    ]
    challenger = ScriptedGenerator(lambda prompt, i: pool[i])
    cfg = CurriculumConfig(pool_questions=6, band_delta=0.25)
    voting = VotingConfig(votes_per_question=10)
    rows, kept, metrics = build_curriculum(challenger, ScriptedGenerator(solver_script), D, cfg, voting, 16, 32)
    assert [r.question for r in rows] == ["1+1", "2*3"]
    assert metrics.malformed == 2 and metrics.duplicates == 2 and metrics.labelled == 2
    assert [r.question for r in kept] == ["2*3"] and kept[0].p_hat == 0.5
    assert kept[0].oracle_answer == "6" and metrics.pseudo_label_accuracy == 1.0
    assert solver_rows(kept) == [{"question": "2*3", "pseudo_label": "6"}]


def test_screen_heldout_matches_text_but_for_case_and_whitespace():
    heldout = frozenset(question_key(q) for q in ["What is 2 + 3?", "7*8"])
    kept, dropped = screen_heldout(["what is 2+3 ?", "7*8", "7*9", "What is 2 + 4?"], heldout)
    assert kept == ["7*9", "What is 2 + 4?"] and dropped == 2
    assert screen_heldout(["7*8"], frozenset()) == (["7*8"], 0)


def test_curriculum_drops_held_out_questions_before_voting():
    pool = ["<question>1+1</question>", "<question>2 * 3</question>", "<question>9-4</question>"]
    challenger, solver = ScriptedGenerator(lambda prompt, i: pool[i]), ScriptedGenerator(solver_script)
    cfg = CurriculumConfig(pool_questions=3, band_filter=False)
    heldout = frozenset(question_key(q) for q in ["2*3", "5+5"])  # the held-out set holds 2*3
    rows, kept, metrics = build_curriculum(
        challenger, solver, D, cfg, VotingConfig(votes_per_question=10), 16, 32, heldout=heldout
    )
    assert [r.question for r in rows] == ["1+1", "9-4"] and "2*3" not in [r.question for r in kept]
    assert D.solver_prompt("2*3") not in solver.calls[0][0]  # never voted on
    assert metrics.heldout_dropped == 1 and metrics.labelled == 2
    assert metrics.distinct_fraction == 1.0  # the Challenger's diversity is measured before the screen
    assert "heldout_dropped" in metrics.model_dump()


def test_curriculum_pseudo_label_accuracy_counts_wrong_majorities():
    challenger = ScriptedGenerator(lambda prompt, i: ["<question>9-4</question>", "<question>2*3</question>"][i % 2])
    cfg = CurriculumConfig(pool_questions=2, band_filter=False)
    voting = VotingConfig(votes_per_question=10)
    rows, kept, metrics = build_curriculum(challenger, ScriptedGenerator(solver_script), D, cfg, voting, 16, 32)
    assert [r.pseudo_label for r in kept] == ["4", "6"]  # 9-4: the wrong majority is still the label
    assert metrics.pseudo_label_accuracy == 0.5 and metrics.kept_fraction == 1.0
    # the oracle-label diagnostic swaps in the exact answers for the same questions
    assert solver_rows(kept, "oracle") == [
        {"question": "9-4", "pseudo_label": "5"},
        {"question": "2*3", "pseudo_label": "6"},
    ]
    without_oracle = CurriculumRow(
        question="q", difficulty=None, answers=["1"], pseudo_label="1", p_hat=1.0, group_sizes=[1], in_band=True
    )
    with pytest.raises(ValueError, match="needs a domain with an oracle"):
        solver_rows([without_oracle], "oracle")


def test_one_m_and_one_vote_temperature_for_the_reward_and_the_pseudo_labels():
    """The Challenger reward and the curriculum ask the Solver through `voting.solver_votes` with the
    run's voting section: the same m, temperature and token budget (the reward's temperature used to
    be configurable while the pseudo-labels were fixed at 1.0)."""
    voting = VotingConfig(votes_per_question=4, temperature=0.7)
    reward_solver, label_solver = ScriptedGenerator(solver_script), ScriptedGenerator(solver_script)
    reward = ChallengerRewardFunction(D, reward_solver, ChallengerConfig(repetition_penalty=False), voting, 32)
    reward(prompts=["p"], completions=["<question>2*3</question>"])
    pool = ScriptedGenerator(lambda prompt, i: "<question>2*3</question>")
    build_curriculum(pool, label_solver, D, CurriculumConfig(pool_questions=1), voting, 16, 32)
    (_, asked_by_reward), (_, asked_for_labels) = reward_solver.calls[0], label_solver.calls[0]
    assert asked_by_reward == asked_for_labels
    assert (asked_by_reward.samples_per_prompt, asked_by_reward.temperature) == (4, 0.7)


@pytest.mark.parametrize(("variant", "expected"), [("binary", [1.0, 0.0, 0.0]), ("reference", [1.0, 0.1, 0.0])])
def test_solver_reward_against_pseudo_labels(variant, expected):
    reward = SolverRewardFunction(D, SolverConfig(reward_variant=variant))
    completions = ["1+1=2\n\\boxed{2}", "\\boxed{3}", "no answer"]
    rewards = reward(prompts=["a", "b", "c"], completions=completions, pseudo_label=["2", "2", "2"])
    assert rewards == pytest.approx(expected)
    assert [r["answer"] for r in reward.records] == ["2", "3", None]


def test_training_prompts_cycle_through_the_curriculum():
    rows = [{"question": q, "pseudo_label": str(i)} for i, q in enumerate(["1+1", "2+2", "3+3"])]
    prompts, labels = training_prompts(rows, D, 7, seed=0)
    assert len(prompts) == 7 and sorted(prompts[:3]) == sorted(D.solver_prompt(r["question"]) for r in rows)
    assert all(D.solver_prompt(rows[int(label)]["question"]) == p for p, label in zip(prompts, labels, strict=True))
