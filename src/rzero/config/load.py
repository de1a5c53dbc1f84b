"""From a YAML file and `section.field=value` overrides to a checked `RunConfig`, and back to YAML.

`load_config(path, overrides)` reads the file (optional), reads relative paths in it from the file's
folder, applies the overrides (values parsed as YAML scalars) and validates the whole against
`rzero.config.schema`. Every failure is one `ConfigError` line that names the field and what it must
be (`one_line`), so that `rzero run` exits 2 before anything loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from rzero.config.schema import ConfigError, RunConfig

SHIPPED = Path(__file__).parent / "shipped"  # the configs rzero ships; the repository's configs/ links here
DEFAULT_CONFIG = SHIPPED / "default.yaml"  # what `rzero run` and `rzero eval` read without --config
SCHEMA_FILE = SHIPPED / "rzero-config.schema.json"  # `rzero config --schema`, for editors (a test keeps it current)
FILE_PATHS = ("launch.accelerate_config", "eval.data_dir", "eval.heldout_file", "eval.probe_file")


def _paths_from(data: dict, folder: Path) -> None:
    """Relative paths written in a config file name files beside it, wherever `rzero` runs from:
    FILE_PATHS, and `model.path` where that folder exists (else it may be a Hub id). Paths given as
    command-line overrides stay relative to the working directory."""
    for dotted in (*FILE_PATHS, "model.path"):
        section, name = dotted.split(".")
        value = data.get(section, {}).get(name) if isinstance(data.get(section), dict) else None
        if not isinstance(value, str) or not value or value == "embedded" or Path(value).expanduser().is_absolute():
            continue
        resolved = (folder / value).resolve()
        if dotted == "launch.accelerate_config" and not resolved.is_file():
            shipped = shipped_accelerate(value, folder)  # one rzero ships, by name; else the missing file
            resolved = Path(shipped) if shipped != value else resolved
        if dotted != "model.path" or resolved.is_dir():
            data[section][name] = str(resolved)


def _apply_override(data: dict, override: str) -> None:
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like section.field=value")
    path, raw = override.split("=", 1)
    parts = path.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part} is not a section")
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""


def read_yaml(path: Path) -> Any:
    """The parsed YAML file; a ConfigError naming the file (and line and column) when it is not one."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults, then the YAML file at `path`, then `overrides` (`section.field=value`), validated."""
    data: Any = {}
    if path is not None:
        data = read_yaml(Path(path))
        data = {} if data is None else data
        if isinstance(data, dict):
            _paths_from(data, Path(path).parent)
    if not isinstance(data, dict):
        raise ConfigError(f"config must be a mapping, got {data!r}")
    for override in overrides or []:
        _apply_override(data, override)
    launch = data.get("launch")
    if isinstance(launch, dict) and isinstance(launch.get("accelerate_config"), str):  # set by an override
        launch["accelerate_config"] = shipped_accelerate(launch["accelerate_config"], Path("."))
    return validated(data)


def shipped_accelerate(value: str, folder: Path) -> str:
    """A relative launch.accelerate_config that names no file from `folder` (the config file's, or the
    working directory for an override) but one of the accelerate configs rzero ships, by the path a clone
    has (`configs/accelerate/multinode-zero3.yaml`), from the config folder (`accelerate/multinode-zero3.yaml`)
    or by name (`multinode-zero3`): that shipped file, so that the same words work in a file, as an
    override and outside a clone (an installed wheel has no configs/ beside you). Anything else, an
    absolute path included, is returned as it is (preflight names a missing file)."""
    path = Path(value).expanduser()
    if not value or path.is_absolute() or (folder / path).is_file():
        return value
    if path.parent.name not in ("accelerate", "") or (path.parent.name == "" and "/" in value):
        return value
    for candidate in (SHIPPED / "accelerate" / path.name, SHIPPED / "accelerate" / f"{path.name}.yaml"):
        if candidate.is_file():
            return str(candidate)
    return value


def validated(data: dict) -> RunConfig:
    """`data` as a RunConfig, or a ConfigError of one line about its first problem."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(one_line(error, RunConfig)) from None


TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "model_type": "a mapping",
    "dict_type": "a mapping",
}


def one_line(error: ValidationError, model: type[BaseModel]) -> str:
    """The first problem of a validation error as one line naming the field: its type or range as the
    schema states it (with the field's description), an unknown key with the known ones, or the message
    of a rule that ties several fields together (which names them itself)."""
    first = error.errors(include_url=False)[0]
    loc = [str(part) for part in first["loc"]]
    path, kind, value = ".".join(loc), first["type"], first.get("input")
    owner, info = _field(model, loc)
    described = " ".join((info.description or "").split()) if info is not None else ""
    about = f": {described.split('. ')[0].rstrip('.')}" if described else ""  # its first sentence
    if kind == "extra_forbidden":
        known = ", ".join(sorted(owner.model_fields)) if owner else ""
        return f"unknown field {path} (known: {known})"
    if kind in TYPE_WORDS:
        return f"{path} must be {TYPE_WORDS[kind]}, got {value!r}{about}"
    if kind == "literal_error":
        return f"{path} must be one of {list(get_args(info.annotation))}, got {value!r}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{path} must be {_range(info)}, got {value!r}{about}"
    message = str(first.get("ctx", {}).get("error", first["msg"]))
    if not path or message.startswith(path.split(".")[0] + "."):
        return message  # a rule across fields: its message names them
    return f"{path} {message}" if message.startswith("must") else f"{path}: {message}"


def _field(model: type[BaseModel], loc: list[str]):
    """(the model that holds key loc[-1], that key's FieldInfo or None where the model has no such field)."""
    owner = model
    for part in loc[:-1]:
        annotation = owner.model_fields[part].annotation if part in owner.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None, None
        owner = annotation
    return owner, owner.model_fields.get(loc[-1]) if loc else None


def _range(info) -> str:
    """A field's bounds as the schema states them: ">= 1", "> 0", "in (0, 1]", "in [0, 1]"."""
    bounds = {}
    for item in info.metadata if info is not None else ():
        for name in ("gt", "ge", "lt", "le"):
            if getattr(item, name, None) is not None:
                bounds[name] = getattr(item, name)
    low = ("(", bounds["gt"]) if "gt" in bounds else ("[", bounds["ge"]) if "ge" in bounds else None
    high = (")", bounds["lt"]) if "lt" in bounds else ("]", bounds["le"]) if "le" in bounds else None
    if low and high:
        return f"in {low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
    if low:
        return f"{'>' if low[0] == '(' else '>='} {low[1]:g}"
    return f"{'<' if high[0] == ')' else '<='} {high[1]:g}" if high else "in range"


def to_dict(cfg: RunConfig) -> dict:
    return cfg.model_dump()


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def json_schema() -> dict:
    """The JSON Schema of a config file (`rzero config --schema`): types, ranges, defaults and each
    field's description, for an editor's completion and checks."""
    schema = RunConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "rzero run configuration"
    return schema
