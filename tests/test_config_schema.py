"""The JSON Schema of a config file (`rzero config --schema`): the committed copy that the shipped YAML
files name for editors is current, every shipped config validates against it (as an editor's YAML
language server would check it) and loads, and the schema refuses what `load_config` refuses."""

import json

import jsonschema
import pytest
import yaml

from rzero.cli import main
from rzero.config.load import SCHEMA_FILE, SHIPPED, json_schema, load_config
from rzero.config.schema import ConfigError

RUN_CONFIGS = sorted(SHIPPED.glob("*.yaml"))
HEADER = f"# yaml-language-server: $schema={SCHEMA_FILE.name}"


def test_the_committed_schema_is_current(capsys):
    assert main(["config", "--schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json_schema() == json.loads(SCHEMA_FILE.read_text()), (
        "regenerate it: rzero config --schema > src/rzero/config/shipped/rzero-config.schema.json"
    )
    jsonschema.Draft202012Validator.check_schema(printed)


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=[p.stem for p in RUN_CONFIGS])
def test_every_shipped_config_names_the_schema_and_validates(path):
    assert path.read_text().splitlines()[0] == HEADER
    jsonschema.validate(yaml.safe_load(path.read_text()), json_schema(), cls=jsonschema.Draft202012Validator)
    load_config(path)


@pytest.mark.parametrize(
    "data, override, where",
    [
        ({"solver": {"batch_size": 8}}, "solver.batch_size=8", "batch_size"),  # unknown key
        ({"iterations": "three"}, "iterations=three", "three"),  # wrong type
        ({"curriculum": {"band_delta": 0.7}}, "curriculum.band_delta=0.7", "0.7"),  # out of range
        ({"solver": {"reward_variant": "soft"}}, "solver.reward_variant=soft", "soft"),  # not a variant
    ],
)
def test_the_schema_refuses_what_load_config_refuses(data, override, where):
    with pytest.raises(jsonschema.ValidationError, match=where):
        jsonschema.validate(data, json_schema(), cls=jsonschema.Draft202012Validator)
    with pytest.raises(ConfigError, match=where):
        load_config(None, [override])


def test_rzero_config_prints_the_resolved_config(capsys):
    assert main(["config", "solver.grpo_steps=3", "model.vllm_server_devices=7"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["solver"]["grpo_steps"] == 3 and printed["model"]["vllm_server_devices"] == "7"
    assert printed["voting"]["votes_per_question"] == 10  # the shipped default.yaml, completed
    assert main(["config", "solver.grpo_steps=many"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
