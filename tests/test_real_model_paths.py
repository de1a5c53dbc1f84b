"""The real-model paths on CPU: chat templates, servers started and stopped per stage (a fake
OpenAI-compatible server stands in for `vllm serve`), TRL's vLLM server mode settings, device
validation, the plan, and the math domain end to end through the loop on a tiny random model."""

import json
import os
import shutil
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from rzero.config.load import SHIPPED, load_config
from rzero.config.schema import ChallengerConfig, ConfigError, ModelConfig, RunConfig, VotingConfig
from rzero.core.domains import ChatPrompts, get_domain, with_chat_template
from rzero.core.rundir import RunDir
from rzero.engines import generators
from rzero.engines.grpo import GRPOPhase, _vllm_arguments, phase_for
from rzero.engines.remote import SOLVER_URL_ENV, TRL_VLLM_URL_ENV, trl_vllm_serve_argv, vllm_serve_argv
from rzero.plan.dry_run import describe
from rzero.run import inputs, servers
from rzero.run.inputs import embedded_base_path
from rzero.stages.challenger import ChallengerRewardFunction

FAKE = Path(__file__).with_name("fake_openai_server.py")
TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}<|assistant|>"


@pytest.fixture(scope="module")
def chat_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with a chat template, as Qwen3 base checkpoints ship one."""
    from transformers import AutoTokenizer

    out = tmp_path_factory.mktemp("chat_model")
    shutil.copytree(tiny_model_dir, out, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(out)
    return out


def test_chat_template_renders_both_prompts_when_the_tokenizer_has_one(chat_model_dir):
    domain = with_chat_template(get_domain("math"), chat_model_dir)
    assert isinstance(domain, ChatPrompts) and domain.name == "math"
    solver = domain.solver_prompt("What is 2+2?")
    assert solver.startswith("<|user|>What is 2+2?\nPlease reason step by step") and solver.endswith("<|assistant|>")
    assert domain.challenger_prompt().startswith("<|user|>You set competition mathematics problems")
    assert domain.parse_question("<question>What is 1+1?</question> \\boxed{2}") == "What is 1+1?"
    raw = with_chat_template(get_domain("math"), chat_model_dir, "never")
    assert raw.solver_prompt("q") == "q\nPlease reason step by step, and put your final answer within \\boxed{}.\n"
    embedded = with_chat_template(get_domain("arithmetic"), embedded_base_path())  # no template: unchanged
    assert not isinstance(embedded, ChatPrompts)


def fake_argv(model_dir, port, **_):
    return [sys.executable, str(FAKE), str(port)]


def server_config(**model):
    """A GPU run whose frozen Solver is served on GPUs 2,3 (nothing here touches a GPU)."""
    return RunConfig.model_validate(
        {
            "domain": "math",
            "model": {"device": "cuda", **model},
            "challenger": {"solver_server_devices": "2,3"},
            "launch": {"mode": "subprocess", "train_devices": "0,1,2,3"},
        }
    )


def test_stage_servers_start_publish_and_stop(tmp_path, monkeypatch):
    seen = []

    def solver_argv(model_dir, port, gpus, host):
        seen.append((model_dir, gpus, host))
        return fake_argv(model_dir, port)

    monkeypatch.setattr("rzero.run.servers.vllm_serve_argv", solver_argv)
    monkeypatch.setattr("rzero.run.servers.trl_vllm_serve_argv", fake_argv)
    monkeypatch.delenv(SOLVER_URL_ENV, raising=False)
    monkeypatch.delenv(TRL_VLLM_URL_ENV, raising=False)
    cfg = server_config(vllm=True, vllm_mode="server", vllm_server_devices="7")
    run = RunDir(tmp_path)
    with servers.stage_servers(cfg, run, 1, "challenger") as urls:
        url = urls[SOLVER_URL_ENV]
        assert urls[TRL_VLLM_URL_ENV] != url
        assert SOLVER_URL_ENV not in os.environ  # passed as values in this process, never through the environment
        solver = generators.frozen_solver(Path("unused"), cfg, 1, url, ExitStack())
        voting = VotingConfig(votes_per_question=4)
        reward = ChallengerRewardFunction(get_domain("math"), solver, ChallengerConfig(), voting, 32)
        rewards = reward(prompts=["p"] * 2, completions=["<question>What is 6*7?</question>", "no tags"])
        assert reward.records[0]["answers"] == [str(len(get_domain("math").solver_prompt("What is 6*7?")))] * 4
        assert rewards == [0.0, 0.0]  # unanimous votes (p_hat 1) and a malformed question
    assert SOLVER_URL_ENV not in os.environ and TRL_VLLM_URL_ENV not in os.environ
    assert seen == [(Path(inputs.base_model(cfg)), 2, "127.0.0.1")]  # S(0) is the base model, on 2 GPUs
    assert (tmp_path / "iter_01" / "challenger.rzero_solver_url.log").exists()
    with servers.stage_servers(cfg, run, 1, "curriculum") as urls:  # no server for the other stages
        assert urls == {}


def test_servers_for_other_nodes_publish_the_host_name(tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr("rzero.run.servers.vllm_serve_argv", fake_argv)
    monkeypatch.delenv(SOLVER_URL_ENV, raising=False)
    cfg = server_config()
    cfg.launch.server_host = "0.0.0.0"
    with servers.stage_servers(cfg, RunDir(tmp_path), 1, "challenger") as urls:
        assert urls[SOLVER_URL_ENV].startswith(f"http://{socket.gethostname()}:")


def test_ranks_never_start_their_own_servers(tmp_path, monkeypatch):
    monkeypatch.delenv(SOLVER_URL_ENV, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "4")
    starting = servers.stage_servers(server_config(), RunDir(tmp_path), 1, "challenger")
    with pytest.raises(RuntimeError, match="RZERO_SOLVER_URL is unset in a multi-process stage"), starting:
        pass


def test_stage_servers_reuse_a_parent_server(tmp_path, monkeypatch):
    monkeypatch.setenv(SOLVER_URL_ENV, "http://127.0.0.1:1")
    monkeypatch.setattr("rzero.run.servers.vllm_serve_argv", lambda *a, **k: pytest.fail("started a second server"))
    with servers.stage_servers(server_config(), RunDir(tmp_path), 1, "challenger") as urls:
        assert urls[SOLVER_URL_ENV] == "http://127.0.0.1:1"


def test_server_commands():
    assert vllm_serve_argv("/m", 8000, gpus=4)[-2:] == ["--data-parallel-size", "4"]
    assert "--data-parallel-size" not in vllm_serve_argv("/m", 8000)
    argv = trl_vllm_serve_argv("/m", 8001, gpus=2)
    assert argv[:4] == ["trl", "vllm-serve", "--model", "/m"] and argv[-1] == "2"


def test_trl_vllm_modes(monkeypatch):
    assert _vllm_arguments(GRPOPhase(1, 2, 2, 1e-6, 0.0, 1.0, 1.0, 8)) == {}
    assert _vllm_arguments(GRPOPhase(1, 2, 2, 1e-6, 0.0, 1.0, 1.0, 8, vllm=True)) == {
        "vllm_mode": "colocate",
        "vllm_gpu_memory_utilization": 0.25,
    }
    server = _vllm_arguments(GRPOPhase(1, 2, 2, 1e-6, 0.0, 1.0, 1.0, 8, vllm=True, vllm_server_url="http://h:9"))
    assert server["vllm_mode"] == "server" and server["vllm_server_base_url"] == "http://h:9"
    model = ModelConfig(device="cuda", vllm=True, vllm_mode="server", vllm_server_devices="7")
    with pytest.raises(RuntimeError, match="no `trl vllm-serve` is up"):
        phase_for(ChallengerConfig(), 2, 2, 0, model)
    assert phase_for(ChallengerConfig(), 2, 2, 0, model, "http://127.0.0.1:5").vllm_server_url == "http://127.0.0.1:5"
    assert phase_for(ChallengerConfig(), 2, 2, 0, ModelConfig(), "http://127.0.0.1:5").vllm_server_url == ""


@pytest.mark.parametrize(
    "override, message",
    [
        ("challenger.solver_server_devices=gpu4", "challenger.solver_server_devices must list GPU numbers"),
        ("launch.train_devices=0;1", "launch.train_devices must list GPU numbers"),
        ("model.device=cuda model.vllm_mode=server", "model.vllm_mode=server needs model.vllm=true"),
        (
            "model.vllm_mode=server model.vllm=true",
            r"model.vllm_mode=server \(TRL's vLLM server for GRPO rollouts\) needs GPUs",
        ),
        (
            "challenger.solver_server_devices=cpu model.device=cuda",
            "solver_server_devices=cpu serves the Solver on CPU",
        ),
        ("challenger.solver_server_devices=4", "needs model.device=cuda"),
        ("model.device=cuda challenger.solver_server_devices=4", "needs launch.mode=subprocess or accelerate"),
        (
            "model.device=cuda challenger.solver_server_devices=0,1 launch.mode=subprocess launch.train_devices=1,0",
            "leaves no GPU",
        ),
        (
            "challenger.sequences_per_micro_batch=6",
            r"challenger.sequences_per_micro_batch=6 must divide one update.s sequences.* \(512\)",
        ),
        ("solver.sequences_per_micro_batch=15", r"divide one update's sequences.* \(640\)"),
        ("solver.updates_per_step=3", "solver.updates_per_step=3 must divide solver.questions_per_step"),
        ("model.chat_template=always", "model.chat_template must be one of"),
        ("eval.benchmarks=gsm8k,mmlu", "unknown benchmark 'mmlu'"),
    ],
)
def test_bad_gpu_settings_name_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, override.split())


def test_micro_batches_share_one_round_between_processes(monkeypatch):
    from rzero.engines.grpo import Batches, micro_batches

    phase = GRPOPhase(1, 128, 4, 1e-6, 0.0, 1.0, 1.0, 8, sequences_per_micro_batch=8)
    assert micro_batches(phase) == Batches(1, 8, 64, 64, 1)  # 512 sequences, one update
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert micro_batches(phase) == Batches(4, 8, 16, 16, 1)  # 512 sequences: 4 processes x 16 accumulation x 8
    assert micro_batches(GRPOPhase(1, 128, 4, 1e-6, 0.0, 1.0, 1.0, 8)) == Batches(4, 128, 1, 1, 1)
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="3 processes' share"):
        micro_batches(phase)


def test_the_reference_solver_step_is_one_round_and_four_updates(monkeypatch):
    """The reference's Solver: 512 questions x 5 rollouts generated per step, 128 questions (640 sequences)
    per optimizer update, 15 steps = 60 updates; on 8 processes with micro-batches of 10 sequences each
    update accumulates 8 micro-batches and a round is 32 (TRL's steps_per_generation)."""
    from rzero.engines.grpo import Batches, grpo_config, micro_batches

    monkeypatch.setenv("WORLD_SIZE", "8")
    phase = GRPOPhase(15, 512, 5, 1e-6, 1e-2, 1.0, 0.99, 8, sequences_per_micro_batch=10, updates_per_step=4)
    assert micro_batches(phase) == Batches(
        processes=8, micro=10, accumulation=8, micro_per_round=32, optimizer_steps=60
    )
    monkeypatch.setenv("WORLD_SIZE", "1")
    args = grpo_config(GRPOPhase(3, 4, 2, 1e-6, 1e-2, 1.0, 0.99, 8, updates_per_step=2), Path("/tmp/unused"))
    assert (args.max_steps, args.per_device_train_batch_size, args.gradient_accumulation_steps) == (6, 4, 1)
    assert (args.steps_per_generation, args.generation_batch_size) == (2, 8)  # one round of 4 prompts x 2
    assert (args.loss_type, args.epsilon, args.epsilon_high, args.delta, args.weight_decay) == (
        "grpo",
        0.2,
        0.3,
        3.0,
        0.01,
    )
    off = grpo_config(GRPOPhase(1, 4, 2, 1e-6, 0.0, 1.0, 1.0, 8, dual_clip_ratio=0.0), Path("/tmp/unused"))
    assert off.delta is None and off.steps_per_generation == off.gradient_accumulation_steps == 1
    with pytest.raises(ValueError, match="updates_per_step"):
        micro_batches(GRPOPhase(1, 6, 2, 1e-6, 0.0, 1.0, 1.0, 8, updates_per_step=4))


def test_the_challenger_phase_leaves_the_solver_servers_gpus_alone(tmp_path, monkeypatch):
    import subprocess

    from rzero.run import launch

    accelerate_config = tmp_path / "a.yaml"
    accelerate_config.write_text("num_processes: 8\n")
    overrides = "model.device=cuda launch.mode=accelerate launch.train_devices=0,1,2,3,4,5,6,7"
    overrides += f" challenger.solver_server_devices=4,5,6,7 launch.accelerate_config={accelerate_config}"
    cfg = load_config(None, overrides.split())
    assert launch.stage_devices(cfg, "challenger") == "0,1,2,3"
    assert launch.stage_devices(cfg, "solver") == "0,1,2,3,4,5,6,7"
    monkeypatch.setattr("rzero.run.servers.vllm_serve_argv", fake_argv)
    monkeypatch.delenv(SOLVER_URL_ENV, raising=False)
    run, seen = RunDir(tmp_path / "run"), {}

    real_popen = subprocess.Popen

    def fake_popen(command, env=None, **kwargs):  # the stage process: records how it started, does the stage's part
        if "rzero.cli" not in command:  # the Solver's (fake) server
            return real_popen(command, env=env, **kwargs)
        seen.update(command=command, devices=env["CUDA_VISIBLE_DEVICES"], url=env.get(SOLVER_URL_ENV))
        run.begin(1, "challenger")
        run.mark_done(1, "challenger", {"trained": True})
        return real_popen([sys.executable, "-c", "pass"], env=env, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", fake_popen)
    assert launch.launch_stage(cfg, run, 1, "challenger").trained
    assert seen["devices"] == "0,1,2,3" and seen["url"].startswith("http://127.0.0.1:")
    at = seen["command"].index("--num_processes")
    assert seen["command"][at + 1] == "4"


def test_single_gpu_number_from_yaml_is_a_device_list(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "model:\n  device: cuda\nchallenger:\n  solver_server_devices: 7\nlaunch:\n  mode: subprocess\n"
        "  train_devices: 3\n"
    )
    cfg = load_config(path)
    assert cfg.challenger.solver_server_devices == "7" and cfg.launch.train_devices == "3"


def test_plan_names_devices_servers_and_launch_commands():
    cfg = load_config(
        SHIPPED / "qwen3-4b-base.yaml",
        ["challenger.solver_server_devices=6,7", "launch.train_devices=0,1,2,3,4,5,6,7", "model.vllm=true"],
    )
    text = "\n".join(describe(cfg, Path("/nonexistent")))
    assert "a vLLM server of S(k-1) on GPUs 6,7" in text and "CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7" in text
    assert "the Challenger phase trains on GPUs 0,1,2,3,4,5 only" in text
    accelerate = SHIPPED / "accelerate" / "8gpu-zero3.yaml"
    assert f"accelerate launch --config_file {accelerate} -m rzero.cli stage" in text  # read from the config's folder
    assert "vLLM (vllm.LLM on GPU), one engine per GPU on 8 GPUs (0,1,2,3,4,5,6,7), prompts sharded" in text
    assert "held-out" not in text and "benchmarks gsm8k,math500" in text


def test_math_domain_end_to_end_on_a_tiny_random_model(chat_model_dir, tmp_path, monkeypatch):
    """Prompt rendering, question parsing, voting, rewards and benchmark scoring of the math domain
    through the whole loop. A random model poses no well-formed question, so the degenerate-phase
    paths run as well: every Challenger reward is 0 and the curriculum is empty."""
    from rzero.engines.generation import HFGenerator
    from rzero.run.loop import run

    prompts = []
    original = HFGenerator.generate
    monkeypatch.setattr(HFGenerator, "generate", lambda self, p, s: prompts.extend(p) or original(self, p, s))
    data = tmp_path / "data" / "gsm8k"
    data.mkdir(parents=True)
    rows = [{"question": f"Tom has {i} apples and buys 2. How many?", "answer": f"...\n#### {i + 2}"} for i in range(3)]
    data.joinpath("test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    overrides = [
        "domain=math",
        f"model.path={chat_model_dir}",
        "model.threads=2",
        "iterations=1",
        "challenger.grpo_steps=1",
        "challenger.prompts_per_step=2",
        "challenger.updates_per_step=1",
        "challenger.rollouts_per_prompt=2",
        "challenger.max_new_tokens=12",
        "curriculum.pool_questions=4",
        "solver.max_new_tokens=12",
        "solver.questions_per_step=2",
        "solver.updates_per_step=1",
        "eval.max_new_tokens=12",
        "eval.benchmarks=gsm8k",
        f"eval.data_dir={tmp_path / 'data'}",
    ]
    summary = run(load_config(None, overrides), tmp_path / "run", log=lambda *_: None)
    first = summary.iterations[1]
    assert first.challenger.well_formed == 0 and first.curriculum.kept == 0
    assert first.evaluate.benchmarks["gsm8k"].problems == 3
    assert first.evaluate.greedy_accuracy == first.evaluate.math_average
    assert any("empty curriculum" in w for w in first.warnings)
    questions = [json.loads(line) for line in (tmp_path / "run/iter_01/challenger/questions.jsonl").open()]
    assert len(questions) == 4 and all(q["reward"] == 0.0 and not q["well_formed"] for q in questions)
    assert prompts and all(p.startswith("<|user|>") and p.endswith("<|assistant|>") for p in prompts)
    assert any("Tom has 0 apples" in p and "\\boxed{}" in p for p in prompts)


def test_math_rewards_and_curriculum_with_a_tiny_random_solver(chat_model_dir):
    """Real generation (a random model behind a chat template) feeding the math domain's parsing,
    proof filter, voting and rewards, in the Challenger reward and in the curriculum stage."""
    from rzero.config.schema import CurriculumConfig
    from rzero.engines.generation import HFGenerator, ScriptedGenerator
    from rzero.stages.curriculum import build_curriculum

    domain = with_chat_template(get_domain("math"), chat_model_dir)
    solver = HFGenerator.from_pretrained(chat_model_dir, seed=0)
    voting = VotingConfig(votes_per_question=4)
    reward = ChallengerRewardFunction(domain, solver, ChallengerConfig(), voting, 16)
    completions = ["<question>What is 3+4?</question>\n\\boxed{7}", "<question>Prove that 7 is prime.</question>", "x"]
    rewards = reward(prompts=["p"] * 3, completions=completions)
    first, proof, junk = reward.records
    assert first["well_formed"] and first["question"] == "What is 3+4?" and len(first["answers"]) == 4
    assert not proof["well_formed"] and not junk["well_formed"] and rewards[1:] == [0.0, 0.0]
    assert 0.0 <= rewards[0] <= 1.0 and rewards[0] == pytest.approx(
        max(0.0, first["uncertainty"] - first["repetition"])
    )

    pool = ScriptedGenerator(lambda prompt, i: f"<question>What is {i % 2}+5?</question> \\boxed{{{i % 2 + 5}}}")
    rows, kept, metrics = build_curriculum(pool, solver, domain, CurriculumConfig(pool_questions=4), voting, 32, 16)
    assert [r.question for r in rows] == ["What is 0+5?", "What is 1+5?"] and metrics.labelled == 2
    assert all(len(r.answers) == 4 and 0.0 <= r.p_hat <= 1.0 for r in rows)
    assert all(abs(r.p_hat - 0.5) <= 0.25 + 1e-9 for r in kept)
