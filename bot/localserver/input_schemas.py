"""The JSON schemas RunComfy's model API checks each model's inputs against."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Final, TypeAlias

import jsonschema

from bot.inputs import GENERATE_MODEL, REFRAME_MODEL

SCHEMA_FILES: Final[Mapping[str, str]] = {
    GENERATE_MODEL: "ideogram-v2-generate.input.schema.json",
    REFRAME_MODEL: "ideogram-v3-reframe.input.schema.json",
}

#: A decoded JSON document, as the validators take it.
JsonValue: TypeAlias = (
    str | int | float | bool | Mapping[str, "JsonValue"] | Sequence["JsonValue"] | None
)


def load_validators() -> dict[str, jsonschema.protocols.Validator]:
    """A validator per model, from the schema files shipped in ``bot/spec``."""
    spec = resources.files("bot").joinpath("spec")
    validators: dict[str, jsonschema.protocols.Validator] = {}
    for model, name in SCHEMA_FILES.items():
        schema = json.loads(spec.joinpath(name).read_text(encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validators[model] = cls(schema)
    return validators


def schema_error(validator: jsonschema.protocols.Validator, body: JsonValue) -> str | None:
    """The most relevant schema error as ``"<path>: <message>"``, or None when valid."""
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is None:
        return None
    path = "/".join(str(part) for part in error.absolute_path)
    return f"{path}: {error.message}" if path else error.message
