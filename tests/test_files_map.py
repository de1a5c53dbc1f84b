"""The map stays true: docs/files.md names every module of src/rzero, the README's short tree names every
package, and neither names one that is gone."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "rzero"


def modules() -> list[Path]:
    return [p.relative_to(PACKAGE) for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__init__.py"]


def packages() -> set[str]:
    return {p.parent.relative_to(PACKAGE).parts[0] for p in PACKAGE.glob("*/__init__.py")}


def listed_modules() -> set[str]:
    """The modules docs/files.md lists in its tree of src/rzero/: a file two spaces in is at the top of the
    package; a folder two spaces in (`  run/`) holds the files four spaces in below it."""
    text = (ROOT / "docs" / "files.md").read_text()
    lines = text[text.index("src/rzero/\n") :].splitlines()[1:]
    listed, folder = set(), ""
    for line in lines:
        if line and not line.startswith(" "):
            break  # the end of src/rzero/
        if top := re.match(r"^  ([\w.]+?)(/|\.py)?\s", line + " "):
            folder = top[1] if top[2] == "/" else ""
            if top[2] == ".py":
                listed.add(f"{top[1]}.py")
        for name in re.findall(r"^ {4}([\w/]+\.py)\b", line):
            listed.add(f"{folder}/{name}")
    return listed


def test_files_md_lists_every_module_where_it_lives_and_no_other():
    actual = {str(p) for p in modules()} | {"core/domains/__init__.py"}
    assert listed_modules() == actual


def test_the_readme_tree_names_every_package():
    readme = (ROOT / "README.md").read_text()
    tree = re.search(r"```\nsrc/rzero/.*?```", readme, re.S)[0]
    shown = set(re.findall(r"^  ([a-z_]+)/", tree, re.M))
    assert shown == packages()
