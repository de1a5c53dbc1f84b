"""The building blocks of the configuration's sections: `Section` (strict types, no unknown keys), the
annotated field types (`Real` reads YAML 1.1's `1e-6`; GPU lists; devices) and `ConfigError`. The sections
live in `rzero.config.roles` (the paper's roles and their GRPO loss) and `rzero.config.schema` (the rest,
and `RunConfig`, which holds them all)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from rzero.core.evalsets import unknown_benchmark


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


def _yaml_number(value: Any) -> Any:
    """YAML 1.1 (PyYAML) reads `1e-6`, without a dot, as a string: take it as the number it spells."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value  # the float check then says "must be a number"
    return value


def _gpu_number(value: Any) -> Any:
    """YAML reads a single GPU number `7` as an integer: take it as the list "7"."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _gpu_list(also_cpu: bool):
    def check(value: str) -> str:
        pattern = r"\d+(,\d+)*" + ("|cpu" if also_cpu else "")
        if value and not re.fullmatch(pattern, value):
            extra = " or cpu" if also_cpu else ""
            raise ValueError(f"must list GPU numbers like 0,1,2,3 (CUDA_VISIBLE_DEVICES){extra}, got {value!r}")
        return value

    return check


def _device(value: str) -> str:
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", value):
        raise ValueError(f"must be cpu, cuda, cuda:N or mps, got {value!r}")
    return value


def _benchmarks(value: str) -> str:
    problem = unknown_benchmark(value)
    if problem:
        raise ValueError(problem)
    return value


Real = Annotated[float, BeforeValidator(_yaml_number)]
GPUs = Annotated[str, BeforeValidator(_gpu_number, json_schema_input_type=str | int), AfterValidator(_gpu_list(False))]
GPUsOrCPU = Annotated[
    str, BeforeValidator(_gpu_number, json_schema_input_type=str | int), AfterValidator(_gpu_list(True))
]
Device = Annotated[str, AfterValidator(_device)]
Benchmarks = Annotated[str, AfterValidator(_benchmarks)]


class Section(BaseModel):
    """What every section shares: strict types, no unknown keys, assignments checked too."""

    model_config = ConfigDict(strict=True, extra="forbid", validate_assignment=True, use_attribute_docstrings=True)
