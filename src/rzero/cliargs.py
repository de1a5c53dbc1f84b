"""Argument checks of the command line, made before any work: each bad flag ends the command with
exit code 2 and one line naming the flag, as a bad config field does (`rzero run`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from rzero.config.load import SHIPPED
from rzero.core.rundir import nearest_existing


def integer(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


def positive_number(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def model_folder(text: str) -> Path:
    """An argparse type: a Hugging Face model folder (it holds config.json)."""
    folder = Path(text)
    if not (folder / "config.json").is_file():
        raise argparse.ArgumentTypeError(f"{text} is not a model folder (no config.json in it)")
    return folder


def existing_file(text: str) -> Path:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"{text} does not exist or is not a file")
    return Path(text)


def config_file(text: str) -> Path:
    """A YAML config: a file, else the name of one shipped with rzero (`qwen3-4b-base` or
    `configs/qwen3-4b-base.yaml` from any folder, as an installed wheel has no configs/ beside you)."""
    if Path(text).is_file():
        return Path(text)
    shipped = SHIPPED
    name = Path(text).name if Path(text).parent.name == "configs" else text
    for candidate in (shipped / name, shipped / f"{name}.yaml"):
        if "/" not in name and candidate.is_file():
            return candidate
    known = ", ".join(sorted(p.stem for p in shipped.glob("*.yaml")))
    raise argparse.ArgumentTypeError(f"config file {text} does not exist (shipped configs, by name: {known})")


def existing_folder(text: str) -> Path:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} does not exist or is not a folder")
    return Path(text)


def output_file(text: str) -> Path:
    """An argparse type: a file whose folder exists (it is not a folder itself); that a file can be
    created there is `preflight.check_writable_file`'s check, made by the command before its work."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    blocker = nearest_existing(path.parent)
    if not blocker.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {blocker} is a file, not a folder")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder of {text} does not exist")
    return path


def output_folder(text: str) -> Path:
    """An argparse type: a folder to write into (it may not exist yet; no part of it is a file)."""
    path = Path(text)
    existing = nearest_existing(path)
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {existing} is a file, not a folder")
    return path


def one_line_errors(parser: argparse.ArgumentParser) -> None:
    """Make `parser` and its subcommands report a bad argument as one line and exit 2 (argparse
    prints the whole usage first; `--help` still shows it)."""

    def error(prog: str, message: str) -> None:
        print(f"{prog}: {message} (see {prog} --help)", file=sys.stderr)
        raise SystemExit(2)

    parsers = [parser]
    while parsers:
        current = parsers.pop()
        current.error = lambda message, prog=current.prog: error(prog, message)  # type: ignore[method-assign]
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
