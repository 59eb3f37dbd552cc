"""``aesweep schema``: the spec's JSON Schema, committed as specs/aesweep.schema.json and named
by every shipped spec, so editors complete and check specs as they are typed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from aesweep.catalog import MODELS
from aesweep.sweeps.cli import main
from aesweep.sweeps.spec import SCHEMA_FILE
from tests.conftest import REPO

SPECS = sorted((REPO / "specs").rglob("*.yaml"))
COMMITTED = REPO / "specs" / SCHEMA_FILE


def printed(capsys) -> dict[str, Any]:
    assert main(["schema"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(COMMITTED.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_committed_schema_is_what_aesweep_schema_prints(capsys) -> None:
    assert main(["schema"]) == 0
    assert COMMITTED.read_text() == capsys.readouterr().out, (
        "specs/aesweep.schema.json is stale: run `aesweep schema > specs/aesweep.schema.json`"
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_every_shipped_spec_names_the_schema_and_satisfies_it(spec: Path, validator) -> None:
    first = spec.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    named = spec.parent / first.removeprefix("# yaml-language-server: $schema=")
    assert named.resolve() == (REPO / "specs" / SCHEMA_FILE).resolve()
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(spec.read_text()))]
    assert errors == []


def test_every_field_has_a_description_and_registered_names_are_enums(capsys) -> None:
    schema = printed(capsys)
    undescribed = [
        f"{name}.{key}"
        for name, cls in [*schema["$defs"].items(), ("SweepSpec", schema)]
        for key, prop in cls.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undescribed == []
    ae = schema["$defs"]["AEConfigGrid"]
    assert ae["required"][0] == "family"
    assert ae["properties"]["architecture"]["enum"] == ["conv64", "conv_cifar", "dcgan", "mlp"]
    assert ae["properties"]["latent_dim"]["default"] == 8
    mapping = schema["properties"]["models"]["items"]["discriminator"]["mapping"]
    assert sorted(mapping) == MODELS.names()


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "x", "models": [{"family": "vae"}]},
        {"name": "x", "models": [{"latent_dim": 8}]},
        {"name": "x", "models": [{"family": "cwae", "lamda": 1}]},
        {"name": "x", "models": [{"family": "cwae", "architecture": "resnet"}]},
        {"name": "x", "models": [{"family": "cwae"}], "optimizer": {"lr": [0.1, -1]}},
        {"name": "x", "models": [{"family": "cwae"}], "modls": []},
        {"name": "x y", "models": [{"family": "cwae"}]},
    ],
)
def test_the_schema_rejects_what_validate_rejects(spec, validator, write_spec, capsys) -> None:
    assert list(validator.iter_errors(spec))
    assert main(["validate", str(write_spec(spec))]) == 2


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "x", "models": [{"family": "cwae", "lambda": 2}], "optimizer": {"lr": 0.01}},
        {"name": "x", "models": [{"family": "cwae", "lambda": [1, 2]}], "seeds": 3},
        {"name": "x", "data": [{"dataset": "digits"}], "models": [{"family": "ae"}]},
        {
            "name": "x",
            "models": [{"family": "ae"}],
            "optimizer": {"schedule": {"kind": "step", "every": 3}},
            "resources": {"gpus_per_trial": 0.5},
        },
    ],
)
def test_the_schema_accepts_scalars_and_lists_where_validate_does(spec, validator) -> None:
    assert [e.message for e in validator.iter_errors(spec)] == []
