"""Packaging (issue 14): declared dependency ranges hold, and a built wheel runs outside the repository."""

import importlib.util
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location(
        "check_dependency_ranges", ROOT / "scripts" / "check_dependency_ranges.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_installed_environment_is_inside_the_declared_ranges():
    script = _script()
    requirements = script.declared()
    assert {r.name for r in requirements} >= {"torch", "transformers", "trl", "accelerate", "peft"}
    assert script.installed_problems(requirements) == []
    torch = next(r for r in requirements if r.name == "torch")
    assert script.lower_bound(torch) == "2.11"  # verified on CUDA (docs/multi-gpu.md "Status"); CPU runs 2.13
    assert "torch==2.11.*" in script.lowest_pins(requirements)


def test_a_range_without_lower_bound_is_refused():
    from packaging.requirements import Requirement

    with pytest.raises(ValueError, match="lower bound"):
        _script().lower_bound(Requirement("rich<16"))
    assert _script().installed_problems([Requirement("rich<1")])[0].startswith("rich ")


@pytest.mark.slow
def test_lowest_and_newest_corners_resolve():
    """pip resolves both corners (needs the package index; metadata only, nothing installed)."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_dependency_ranges.py")], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lowest: ok  torch 2.11" in done.stdout


@pytest.mark.slow
def test_wheel_runs_one_iteration_outside_the_repository(tmp_path):
    """Build the wheel, install it into a new venv (its dependencies are this environment's, reached by a
    .pth file: nothing is downloaded), and run one small iteration from a folder outside the repository
    with the packaged base model, configs and held-out set."""
    wheels = tmp_path / "wheels"
    build = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(wheels),
        str(ROOT),
    ]
    subprocess.run(build, check=True, capture_output=True, timeout=600)
    wheel = next(wheels.glob("rzero-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    (Path(site) / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   timeout=300)  # fmt: skip
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    where = subprocess.run([str(python), "-c", "import rzero; print(rzero.__file__)"], cwd=outside, env=env,
                           check=True, capture_output=True, text=True).stdout  # fmt: skip
    assert where.startswith(site), where  # the wheel's copy, not the repository's
    small = ["iterations=1", "model.threads=2", "challenger.grpo_steps=1", "challenger.prompts_per_step=2",
             "curriculum.pool_questions=16", "solver.grpo_steps=1", "solver.questions_per_step=2",
             "solver.max_new_tokens=48", "eval.problems=16", "eval.max_new_tokens=48"]  # fmt: skip
    done = subprocess.run([str(venv / "bin" / "rzero"), "run", "--out", "run", *small], cwd=outside, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (outside / "run" / "summary.json").is_file() and "held-out greedy" in done.stdout
