"""The base of every config a user writes: unknown keys are errors, values are frozen, and a
registered name (an architecture, an optimizer, a prior...) is checked against its registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from aesweep.config.registry import Registry


class StrictConfig(BaseModel):
    """extra = "forbid" (a typo is an error, not a silently ignored key), frozen, aliases or
    field names accepted."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


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
            raise ValueError(f"unknown {self.registry.kind} {value!r}; allowed: {names}")
        return value


class Described:
    """A registry value that is only a description (reconstruction forms, priors, optimizers)."""

    def __init__(self, description: str) -> None:
        self.description = description

    def __repr__(self) -> str:
        return f"Described({self.description!r})"
