"""Grid axes: fields marked ``Sweepable`` accept a list in a spec and become trial axes.

A config class declares its fields as scalars. :func:`grid_model` derives the class a spec
entry is validated with, where each sweepable field takes a scalar or a non-empty list;
:func:`expand` turns one such entry back into the cartesian product of scalar configs.
"""

from __future__ import annotations

import itertools
import operator
from functools import cache
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapSerializer,
    WrapValidator,
    create_model,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, PydanticUndefined, core_schema

from aesweep.config.base import STRICT_INPUT, StrictScalars
from aesweep.config.search_space import (
    Distribution,
    is_distribution_input,
    parse_distribution,
)

M = TypeVar("M", bound=BaseModel)


class _SweepableMarker:
    """Metadata marker: this field may be a list of values in a spec (a grid axis)."""

    def __repr__(self) -> str:
        return "Sweepable"


SWEEPABLE = _SweepableMarker()
T = TypeVar("T")
Sweepable = Annotated[T, SWEEPABLE]
"""``Sweepable[float]``: a scalar in a trial's config, a scalar or a list in a spec."""


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


def _list_or_distribution(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A distribution mapping (``{loguniform: [a, b]}``) becomes its :class:`Distribution`
    (its first problem reported at the field); anything else is validated as a grid axis."""
    if isinstance(value, Distribution):
        return value
    if is_distribution_input(value):
        try:
            return parse_distribution(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            raise PydanticCustomError(
                "distribution", "{where}{msg}", {"where": f"{where}: " if where else "", "msg": msg}
            ) from None
    return handler(value)


def _serialize_axis(value: Any, handler: SerializerFunctionWrapHandler) -> Any:
    """A distribution as the mapping a spec writes; a list as a list."""
    if isinstance(value, Distribution):
        return value.model_dump(mode="json")
    return handler(value)


def no_duplicates(values: list[Any]) -> list[Any]:
    """A grid axis holds each value once (after validation, so ``1`` and ``1.0`` are the same):
    a repeated value would plan the same trial twice. The error's context names both indices
    (``index``, ``first``) for the message ``lr[2]: duplicate of lr[0] (0.001)``."""
    for i, value in enumerate(values):
        for j in range(i):
            if values[j] == value:
                raise PydanticCustomError(
                    "duplicate_value",
                    "duplicate of the value at index {first} ({value})",
                    {"index": i, "first": j, "value": value},
                )
    return values


class ScalarOrList:
    """JSON Schema metadata of a field that takes a value or a list of values (a grid axis,
    ``data``, ``seeds``): the schema admits both, as validation does."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        items = out.get("items")
        if out.get("type") != "array" or not isinstance(items, dict):
            return out
        listed = {k: v for k, v in out.items() if k in ("type", "items", "minItems")}
        rest = {k: v for k, v in out.items() if k not in listed}
        return {"anyOf": [items, listed], **rest}

    def __repr__(self) -> str:
        return "ScalarOrList()"


SCALAR_OR_LIST = ScalarOrList()

DISTRIBUTION_SCHEMA: JsonSchemaValue = {
    "type": "object",
    "description": "search.algorithm random or optuna: {loguniform: [a, b]}, {uniform: [a, b]} "
    "or {choice: [...]}",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "loguniform": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        "uniform": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        "choice": {"type": "array", "minItems": 1},
    },
    "additionalProperties": False,
}


class ScalarListOrDistribution(ScalarOrList):
    """JSON Schema metadata of a sweepable field: a value, a list, or a search distribution."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = super().__get_pydantic_json_schema__(schema, handler)
        if "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], DISTRIBUTION_SCHEMA]
        return out

    def __repr__(self) -> str:
        return "ScalarListOrDistribution()"


SCALAR_LIST_OR_DISTRIBUTION = ScalarListOrDistribution()


def sweepable_fields(cls: type[BaseModel]) -> list[str]:
    """Names of the fields of ``cls`` that are grid axes in a spec."""
    return [
        name
        for name, info in cls.model_fields.items()
        if any(m is SWEEPABLE for m in info.metadata)
    ]


class GridModel(StrictScalars, BaseModel):
    """Base of the spec-side twins: unknown keys are errors, numbers finite and not booleans
    (as :class:`aesweep.config.base.StrictConfig`); ``__scalar_model__`` is the config class an
    entry expands into."""

    model_config = ConfigDict(**STRICT_INPUT)
    __scalar_model__: ClassVar[type[BaseModel]]


def _annotated(base: Any, *metadata: Any) -> Any:
    """``Annotated[base, *metadata]``, built at run time (``base`` alone without metadata)."""
    return operator.getitem(Annotated, (base, *metadata)) if metadata else base


def field_info(cls: type[BaseModel], alias: str) -> FieldInfo:
    """The field of ``cls`` a spec names ``alias`` (its alias, or its name)."""
    for name, info in cls.model_fields.items():
        if (info.alias or name) == alias:
            return info
    raise KeyError(f"{cls.__name__} has no field {alias!r}")


@cache
def grid_model(cls: type[M]) -> type[GridModel]:
    """The spec-side twin of ``cls``: every sweepable field holds a non-empty list of distinct
    values."""
    axes = set(sweepable_fields(cls))
    fields: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        kwargs: dict[str, Any] = {"alias": info.alias, "description": info.description}
        if name in axes:
            rest = [m for m in info.metadata if m is not SWEEPABLE]
            element = _annotated(info.annotation, *rest)
            # A grid axis (a value or a list), or a search distribution (random, optuna).
            annotation = _annotated(
                list.__class_getitem__(element),
                BeforeValidator(_as_list),
                Field(min_length=1),
                AfterValidator(no_duplicates),
                WrapValidator(_list_or_distribution),
                WrapSerializer(_serialize_axis),
                SCALAR_LIST_OR_DISTRIBUTION,
            )
            default = PydanticUndefined if info.is_required() else [info.get_default()]
            fields[name] = (annotation, Field(default, **kwargs))
        else:
            annotation = _annotated(info.annotation, *info.metadata)
            if info.discriminator is not None:  # a tagged union's tag (a model's init)
                kwargs["discriminator"] = info.discriminator
            if info.default_factory is not None:
                fields[name] = (annotation, Field(default_factory=info.default_factory, **kwargs))
            else:
                default = PydanticUndefined if info.is_required() else info.default
                fields[name] = (annotation, Field(default, **kwargs))
    grid: type[GridModel] = create_model(
        f"{cls.__name__}Grid", __base__=GridModel, __doc__=cls.__doc__, **fields
    )
    grid.__scalar_model__ = cls
    return grid


def scalar_model(grid: BaseModel) -> type[BaseModel]:
    """The config class a grid entry expands into."""
    if not isinstance(grid, GridModel):
        raise TypeError(f"{type(grid).__name__} is not a grid entry (see grid_model)")
    return grid.__scalar_model__


def _dump(grid: BaseModel) -> dict[str, Any]:
    """The entry by alias, with its distributions kept as objects."""
    base = grid.model_dump(by_alias=True)
    for name in sweepable_fields(scalar_model(grid)):
        value = getattr(grid, name)
        if isinstance(value, Distribution):
            base[scalar_model(grid).model_fields[name].alias or name] = value
    return base


def distributions(grid: BaseModel) -> dict[str, Distribution]:
    """Alias -> distribution of the sweepable fields of a grid entry given one."""
    cls = scalar_model(grid)
    return {
        cls.model_fields[a].alias or a: getattr(grid, a)
        for a in sweepable_fields(cls)
        if isinstance(getattr(grid, a), Distribution)
    }


def integer_field(cls: type[BaseModel], alias: str) -> bool:
    """The sweepable field ``alias`` of ``cls`` holds an int (a draw is rounded)."""
    for name, info in cls.model_fields.items():
        if (info.alias or name) == alias:
            return info.annotation is int
    return False


def search_axes(grid: BaseModel) -> dict[str, Any]:
    """Alias -> the values (a list) or the distribution of every sweepable field of an entry
    that varies under a search: a distribution, or a list of more than one value."""
    cls = scalar_model(grid)
    out: dict[str, Any] = {}
    for a in sweepable_fields(cls):
        value = getattr(grid, a)
        if isinstance(value, Distribution) or len(value) > 1:
            out[cls.model_fields[a].alias or a] = value
    return out


def fixed_raw(grid: BaseModel) -> dict[str, Any]:
    """The entry by alias, every sweepable field of one value as that value, the others (what
    a search draws) left out."""
    cls = scalar_model(grid)
    base = _dump(grid)
    varying = search_axes(grid)
    for a in sweepable_fields(cls):
        alias = cls.model_fields[a].alias or a
        if alias in varying:
            base.pop(alias)
        else:
            base[alias] = base[alias][0]
    return base


def expand_raw(grid: BaseModel) -> list[dict[str, Any]]:
    """The cartesian product of a grid entry's axes, as dicts (by alias) of scalars (an entry
    with a distribution has no cartesian product: see :func:`distributions`)."""
    cls = scalar_model(grid)
    if distributions(grid):
        raise ValueError("an entry with a distribution has no grid; draw from it instead")
    axes = sweepable_fields(cls)
    base = grid.model_dump(by_alias=True)
    names = [cls.model_fields[a].alias or a for a in axes]
    combos = itertools.product(*(base[n] for n in names))
    return [{**base, **dict(zip(names, combo, strict=True))} for combo in combos]


def axis_sizes(grid: BaseModel) -> dict[str, int]:
    """How many values each axis of a grid entry holds (1 for a fixed field, 0 for a
    distribution: not countable)."""
    cls = scalar_model(grid)
    out = {}
    for a in sweepable_fields(cls):
        value = getattr(grid, a)
        out[cls.model_fields[a].alias or a] = 0 if isinstance(value, Distribution) else len(value)
    return out
