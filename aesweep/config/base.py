"""The base of every config a user writes: unknown keys are errors, values are frozen, numbers
are finite and never booleans, and a registered name (an architecture, an optimizer, a
prior...) is checked against its registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from aesweep.config.registry import Registry

STRICT_INPUT = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)
"""What every spec-side model shares: unknown keys are errors, aliases or field names accepted,
and no float field takes inf or NaN (``1e400`` in YAML is inf: a trial would only diverge)."""


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("bool_for_number", "Input should be a number, not true/false")
    return value


_NOT_VALIDATORS = frozenset({"serialization", "metadata", "default", "expected", "cls", "config"})


def strict_scalars(schema: Any) -> Any:
    """``schema`` with every int, float and numeric literal refusing a boolean (pydantic's lax
    mode reads ``true`` as 1) and every bool refusing numbers and strings (``1``, ``"no"``)."""
    if isinstance(schema, list):
        return [strict_scalars(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: v if k in _NOT_VALIDATORS else strict_scalars(v) for k, v in schema.items()}
    kind = out.get("type")
    if kind == "bool":
        out["strict"] = True
    numeric_literal = kind == "literal" and any(
        type(e) in (int, float) for e in out.get("expected", ())
    )
    if kind in ("int", "float") or numeric_literal:
        return core_schema.no_info_before_validator_function(_not_a_bool, out)
    return out


class StrictScalars:
    """Mixin for pydantic models: numbers are never booleans, booleans only true/false (see
    :func:`strict_scalars`); list it before ``BaseModel``'s subclasses."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema: core_schema.CoreSchema = strict_scalars(handler(source))
        return schema


class StrictConfig(StrictScalars, BaseModel):
    """extra = "forbid" (a typo is an error, not a silently ignored key), frozen, aliases or
    field names accepted, finite numbers that are not booleans."""

    model_config = ConfigDict(**STRICT_INPUT, frozen=True)


@dataclass(frozen=True)
class Registered:
    """Field metadata: ``Annotated[str, Registered(ARCHITECTURES)]`` must name an entry of the
    registry (checked when validated; the JSON Schema lists the names as an enum)."""

    registry: Registry[Any]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.known, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out["enum"] = self.registry.names()
        return out

    def known(self, value: str) -> str:
        if value not in self.registry:
            names = ", ".join(self.registry)
            raise ValueError(f"unknown {self.registry.kind} {shown(value)}; allowed: {names}")
        return value


def shown(value: Any) -> str:
    """``repr(value)``, with every character outside printable ASCII escaped, so that a name
    with a look-alike letter shows why it is not the name it looks like (``'cw\\u0430e'``)."""
    text = repr(value)
    return text if text.isascii() and text.isprintable() else ascii(value)


class Described:
    """A registry value that is only a description (reconstruction forms, priors, optimizers)."""

    def __init__(self, description: str) -> None:
        self.description = description

    def __repr__(self) -> str:
        return f"Described({self.description!r})"
