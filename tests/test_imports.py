"""House rules as tests: the data flows one way (a stage never imports another), and the pure modules
stay pure (no torch, no transformers, so that they load in milliseconds and test on hand-made vectors)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rzero"
STAGES = ("challenger", "curriculum", "solver", "evaluate")
PURE = ("voting", "rewards", "drift")


def imported_modules(module: str, folder: Path = SRC) -> set[str]:
    """Every module `module` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse((folder / f"{module}.py").read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "rzero":
                names |= {f"rzero.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_never_imports_another_stage(stage):
    others = {f"rzero.{name}" for name in STAGES if name != stage}
    assert not imported_modules(stage) & others


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_neither_torch_nor_transformers(module):
    heavy = {name for name in imported_modules(module) if name.split(".")[0] in ("torch", "transformers", "trl")}
    assert not heavy


def test_the_checker_sees_function_level_imports(tmp_path):
    """The rule checker itself: an import inside a function counts (a test that can fail)."""
    (tmp_path / "fake.py").write_text("def f():\n    from rzero import solver\n    import torch.nn\n")
    assert {"rzero.solver", "torch.nn"} <= imported_modules("fake", tmp_path)


def test_pure_modules_load_without_torch():
    """Not only their own imports: nothing they import pulls torch, transformers or trl in either
    (voting asks the Solver through the Generator protocol, which loads torch only in the HF backend)."""
    import subprocess
    import sys

    modules = ", ".join(f"rzero.{name}" for name in (*PURE, "records"))
    code = f"import sys, {modules}; print(sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("module", ["plan", "pipeline", "launch", *STAGES])
def test_nothing_below_the_loop_imports_it(module):
    """`loop.py` is the iteration alone: the plan, the stage glue, the launcher and the stages never import it."""
    assert "rzero.loop" not in imported_modules(module)
