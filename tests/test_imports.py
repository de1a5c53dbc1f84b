"""House rules about imports that the import contracts (tests/test_import_contracts.py) cannot say: no
module imports another module's private name (a leading underscore), by `from m import _x` or by
`m._x`. Tests may reach into private names; the package may not."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def private_uses(path: Path, me: str, package: str = "rzero") -> list[str]:
    """`line name` of every private name of `package` that the file at `path` (module `me`) imports or
    reads from another module, at the top or inside a function."""
    tree = ast.parse(path.read_text())
    aliases = {}  # local name -> module, from `import rzero.x as y` / `from rzero import x`
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == package:
            for alias in node.names:
                if alias.name.startswith("_") and node.module != me:
                    found.append(f"{node.lineno} {node.module}.{alias.name}")
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == package:
                    aliases[alias.asname or package] = alias.name if alias.asname else package
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            names = []
            while isinstance(base, ast.Attribute):
                names.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                found.append(f"{node.lineno} {'.'.join([aliases[base.id], *reversed(names)])}.{node.attr}")
    return found


def test_no_module_imports_a_private_name_of_another():
    offenders = {}
    for path in sorted((SRC / "rzero").rglob("*.py")):
        me = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        offenders.update({me: uses} if (uses := private_uses(path, me)) else {})
    assert not offenders


def test_the_checker_sees_private_names(tmp_path):
    """The checker itself: both forms are found, inside a function too (a test that can fail)."""
    bad = tmp_path / "fake.py"
    bad.write_text(
        "import rzero.engines.remote\nfrom rzero.run import loop\n"
        "def f():\n"
        "    from rzero.engines.processes import _hidden\n"
        "    return rzero.engines.remote._die(loop._stage)\n"
    )
    assert private_uses(bad, "rzero.run.fake") == [
        "4 rzero.engines.processes._hidden",
        "5 rzero.engines.remote._die",
        "5 rzero.run.loop._stage",
    ]
