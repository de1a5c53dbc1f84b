"""docs/paper-in-code.md's table of the recipe, value by value, against the shipped files: the Qwen3 recipes and
the CPU default hold exactly what the table says, and the built-in defaults are the paper's values."""

import re
from pathlib import Path

import pytest
import yaml

from rzero.config.load import SHIPPED, load_config
from rzero.config.schema import RunConfig

TABLE = Path(__file__).resolve().parents[1] / "docs" / "paper-in-code.md"
COLUMNS = ("field", "paper", "reference", "recipes", "cpu", "why")


def table_rows() -> list[dict[str, str]]:
    """The rows of the table under "## The recipe, value by value" (cells split on unescaped pipes)."""
    text = TABLE.read_text().split("## The recipe, value by value", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == len(COLUMNS), line
        row = dict(zip(COLUMNS, cells, strict=True))
        row["field"] = row["field"].strip("`")
        rows.append(row)
    return rows


def value_at(cfg: RunConfig, field: str):
    node = cfg
    for part in field.split("."):
        node = getattr(node, part)
    return node


def parsed(cell: str):
    """A table cell as a config value: `unset` -> None, `4 (global batch 128)` -> 4, `1e-6` -> 1e-06."""
    if cell == "unset":
        return None
    value = yaml.safe_load(cell.split(" (", 1)[0])
    if isinstance(value, str) and re.fullmatch(r"[0-9.]+e-?[0-9]+", value):
        return float(value)
    return value


def same(actual, expected) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        return actual is not None and expected is not None and actual == pytest.approx(expected)
    return actual == expected


ROWS = table_rows()


def test_the_table_has_every_recipe_quantity():
    fields = {row["field"] for row in ROWS}
    assert len(ROWS) == len(fields) >= 35
    for section in ("challenger", "solver", "curriculum", "grpo", "voting"):
        for name in type(getattr(RunConfig(), section)).model_fields:
            if name in ("train", "repetition_penalty", "band_filter", "labels", "solver_server_devices"):
                continue  # switches for ablations and devices, not hyperparameters
            if name == "sequences_per_micro_batch":
                continue  # sized per GPU by --dry-run; with the grpo loss it changes memory, not the loss
            assert f"{section}.{name}" in fields, f"{section}.{name} is missing from the table"


@pytest.mark.parametrize("recipe", ["qwen3-4b-base.yaml", "qwen3-8b-base.yaml"])
def test_each_qwen3_recipe_holds_the_tables_values(recipe):
    cfg = load_config(SHIPPED / recipe)
    for row in ROWS:
        expected = parsed(row["recipes"])
        assert same(value_at(cfg, row["field"]), expected), f"{recipe} {row['field']}: table says {expected}"


def test_the_cpu_default_holds_the_tables_values():
    cfg = load_config(SHIPPED / "default.yaml")
    for row in ROWS:
        expected = parsed(row["cpu"])
        assert same(value_at(cfg, row["field"]), expected), f"default.yaml {row['field']}: table says {expected}"


def test_the_built_in_defaults_are_the_papers_values_and_else_the_recipes():
    defaults = RunConfig()
    for row in ROWS:
        expected = parsed(row["paper"]) if row["paper"] != "-" else None
        if expected is None and row["field"] in ("challenger.max_new_tokens", "solver.max_new_tokens"):
            continue  # the built-in lengths are short for a first run; the recipes set 4096
        if expected is None:
            expected = parsed(row["recipes"])
        assert same(value_at(defaults, row["field"]), expected), f"default of {row['field']}: expected {expected}"


def test_the_table_parser_reads_escaped_pipes_and_annotations():
    assert parsed("4 (global batch 128)") == 4 and parsed("1e-6") == 1e-6 and parsed("unset") is None
    assert parsed("grpo") == "grpo" and parsed("0.99") == 0.99
    band = next(row for row in ROWS if row["field"] == "curriculum.band_delta")
    assert "\\|p_hat - 1/2\\|" in band["why"]
