"""Do the dependency ranges in pyproject.toml hold? Three checks, one line each, exit 1 if any fails.

    python scripts/check_dependency_ranges.py            # installed + lowest + newest
    python scripts/check_dependency_ranges.py --offline  # the installed environment only

- installed: every installed dependency satisfies its declared range (what `make test` verified).
- lowest: pip resolves every dependency pinned to the release series of its lower bound together
  (e.g. torch==2.11.*, transformers==5.17.*): the oldest versions docs/multi-gpu.md "Status" says were verified.
- newest: pip resolves the declared ranges as they stand.
The two resolver checks are `pip install --dry-run --ignore-installed` (package metadata only, nothing is
installed; a package index must be reachable).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def declared(path: Path = PYPROJECT) -> list[Requirement]:
    return [Requirement(text) for text in tomllib.loads(path.read_text())["project"]["dependencies"]]


def lower_bound(requirement: Requirement) -> str:
    """The version of the `>=` clause (every dependency must declare one)."""
    bounds = [spec.version for spec in requirement.specifier if spec.operator == ">="]
    if len(bounds) != 1:
        raise ValueError(f"{requirement}: declare exactly one lower bound (>=)")
    return bounds[0]


def lowest_pins(requirements: list[Requirement]) -> list[str]:
    return [f"{r.name}=={lower_bound(r)}.*" for r in requirements]


def installed_problems(requirements: list[Requirement]) -> list[str]:
    """Installed versions outside their declared range (or missing)."""
    problems = []
    for requirement in requirements:
        try:
            found = version(requirement.name)
        except PackageNotFoundError:
            problems.append(f"{requirement.name} is not installed")
            continue
        if not requirement.specifier.contains(found, prereleases=True):
            problems.append(f"{requirement.name} {found} is outside {requirement.specifier}")
    return problems


def resolves(specs: list[str]) -> tuple[bool, str]:
    """Whether pip finds one consistent set for `specs`; the chosen versions of the main packages, or pip's error."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        done = subprocess.run([*command, "--report", str(report), *specs], capture_output=True, text=True)
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
            return False, " | ".join(lines[:2]) or done.stderr.strip()[-300:]
        chosen = {
            i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]
        }
    names = ("torch", "transformers", "trl", "accelerate", "peft", "datasets")
    return True, " ".join(f"{name} {chosen[name]}" for name in names if name in chosen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline", action="store_true", help="check the installed environment only")
    args = parser.parse_args(argv)
    requirements = declared()
    problems = installed_problems(requirements)
    print(f"installed: {'ok' if not problems else 'FAILED: ' + '; '.join(problems)}")
    failed = bool(problems)
    if not args.offline:
        for corner, specs in (("lowest", lowest_pins(requirements)), ("newest", [str(r) for r in requirements])):
            ok, detail = resolves(specs)
            print(f"{corner}: {'ok' if ok else 'FAILED'}  {detail}")
            failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
