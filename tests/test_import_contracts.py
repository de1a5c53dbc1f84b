"""The import contracts of pyproject.toml ([tool.importlinter]) hold, and each of them can fail.

`lint-imports` checks which way every import of src/rzero points (layers), that a stage never imports
another, that the pure modules reach neither torch nor TRL even indirectly, that TRL is configured in
engines/grpo.py and engines/sft.py only, and that no siblings import each other in a circle. The second
test copies the package, adds one bad import per contract, and expects exactly that contract to break:
the check is not one that passes whatever the code does.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")  # the dev extra's import-linter: a test that fails without it


def lint(root: Path, contract: str | None = None) -> subprocess.CompletedProcess:
    """`lint-imports` with the repository's contracts over the package under root/src."""
    command = [str(LINT), "--no-cache", str(ROOT / "pyproject.toml")]
    if contract:
        command += ["--contract", contract]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_every_contract_is_kept():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "6 kept, 0 broken" in done.stdout


# (contract id, file under src/rzero, the line added to it)
BAD_IMPORTS = [
    ("layers", "core/rewards.py", "import rzero.stages.solver"),
    ("run", "run/inputs.py", "import rzero.run.pipeline"),
    ("stages", "stages/challenger.py", "import rzero.stages.solver"),
    ("pure", "core/voting.py", "import torch"),
    ("trl", "stages/solver.py", "import trl"),
    ("acyclic", "core/rundir.py", "import rzero.core.domains"),  # domains reads held-out files through rundir
]


@pytest.mark.parametrize("contract, module, line", BAD_IMPORTS, ids=[c for c, _, _ in BAD_IMPORTS])
def test_each_contract_breaks_on_a_bad_import(tmp_path, contract, module, line):
    shutil.copytree(ROOT / "src" / "rzero", tmp_path / "src" / "rzero", ignore=shutil.ignore_patterns("*.safetensors"))
    target = tmp_path / "src" / "rzero" / module
    target.write_text(target.read_text() + f"\n{line}\n")
    done = lint(tmp_path, contract)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "1 broken" in done.stdout and Path(module).stem in done.stdout.split("Broken contracts")[-1]
