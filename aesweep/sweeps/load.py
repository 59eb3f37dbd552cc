"""Reading a spec file: YAML (safe_load), ``--set`` overrides, validation, clear error lines.

Every problem becomes one line naming the file and field path (or line and column) and what
is allowed; :class:`SpecError` carries them to the CLI, which prints them and exits with 2.
"""

from __future__ import annotations

import operator
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from aesweep.config.base import shown
from aesweep.config.trial import TrialConfig
from aesweep.sweeps.plan import PlanError, plan
from aesweep.sweeps.spec import SweepSpec


class SpecError(Exception):
    """A spec that cannot run; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice (PyYAML would keep the last one silently)."""

    def __init__(self, key: Any, mark: yaml.Mark, first: yaml.Mark) -> None:
        self.key, self.first = key, first
        problem = f"duplicate key {shown(key)} (first at line {first.line + 1})"
        super().__init__(problem=problem, problem_mark=mark)


class ForbiddenTagError(yaml.constructor.ConstructorError):
    """An explicit tag (``!!python/object``, ``!!binary``, ``!custom``): a spec is plain data."""

    def __init__(self, tag: str, mark: yaml.Mark) -> None:
        self.tag = tag.replace("tag:yaml.org,2002:", "!!", 1)
        problem = (
            f"forbidden tag {self.tag}: a spec holds plain YAML only (mappings, lists, strings, "
            "numbers, true/false, null)"
        )
        super().__init__(problem=problem, problem_mark=mark)


_MERGE = "tag:yaml.org,2002:merge"
_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "str", "seq", "map")
}


class SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys (at every level) and every tag beyond
    plain data, and reads dates as strings (``name: 2024-05-01`` is a name)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:  # `<<: *anchor` may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if first is not None:
                raise DuplicateKeyError(key, key_node.start_mark, first)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_forbidden(self, node: yaml.Node) -> Any:
        raise ForbiddenTagError(node.tag, node.start_mark)


SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag in _PLAIN_TAGS or tag == _MERGE]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag in list(yaml.SafeLoader.yaml_constructors):
    if _tag not in _PLAIN_TAGS and _tag != _MERGE:
        SpecLoader.add_constructor(_tag, SpecLoader.construct_forbidden)


def parse_yaml(text: str) -> Any:
    """YAML text -> plain data (:class:`SpecLoader`); raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=SpecLoader)  # noqa: S506 (SpecLoader is a SafeLoader)


def _yaml_problem(exc: yaml.YAMLError, text: str) -> tuple[str, str]:
    """(``line:col`` or "", what is wrong) of a YAML error in ``text``."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else ""
        if isinstance(exc, DuplicateKeyError | ForbiddenTagError):
            return where, str(exc.problem)
        what = " ".join(filter(None, [exc.context, exc.problem]))
        return where, f"YAML syntax error: {what}"
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        where = f"{before.count(chr(10)) + 1}:{len(before) - before.rfind(chr(10))}"
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return where, f"character {ascii(char)} is not allowed in YAML (special characters)"
    return "", f"YAML error: {exc}"


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SpecError([f"{path}: no such file"]) from None
    except (IsADirectoryError, PermissionError) as exc:
        raise SpecError([f"{path}: cannot read the spec ({exc.__class__.__name__})"]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line, col = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        raise SpecError(
            [
                f"{path}:{line}:{col}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                "save the spec as UTF-8"
            ]
        ) from None
    try:
        raw = parse_yaml(text)
    except yaml.YAMLError as exc:
        where, what = _yaml_problem(exc, text)
        raise SpecError([f"{path}:{where}: {what}" if where else f"{path}: {what}"]) from None
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else _kind_of(raw)
        raise SpecError([f"{path}: a spec is a YAML mapping (name:, models:, ...), got {got}"])
    return raw


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``key.path=value`` (value parsed as YAML, so ``[0.01]`` is a list) into ``raw``."""
    problems = []
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            problems.append(f"--set {item}: expected key.path=value")
            continue
        try:
            value = parse_yaml(text)
        except (DuplicateKeyError, ForbiddenTagError) as exc:
            problems.append(f"--set {key}: {exc.problem}")
            continue
        except yaml.YAMLError:
            problems.append(f"--set {key}: the value {text!r} is not valid YAML")
            continue
        problem = _set_path(raw, key.split("."), value)
        if problem:
            problems.append(f"--set {key}: {problem}")
    if problems:
        raise SpecError(problems)
    return raw


def _set_path(node: Any, parts: list[str], value: Any) -> str | None:
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return f"{part!r} is not an index of a list of {len(node)} entries"
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            return f"{'.'.join(parts[:depth])} is a value, not a section"
    return None


# --- where an error is: the field path, and the config class that owns it -------------------


def _members(annotation: Any, tag: str | None = None) -> list[tuple[Any, str | None]]:
    """The alternatives of an annotation (through ``Annotated`` and unions), each with the
    discriminator that tells the union's members apart (None: not a discriminated union)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        for m in metadata:
            if isinstance(m, FieldInfo) and isinstance(m.discriminator, str):
                tag = m.discriminator
        return _members(inner, tag)
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(annotation) for m in _members(arg, tag)]
    return [(annotation, tag)]


def _model_of(annotation: Any, node: Any) -> type[BaseModel] | None:
    """The model class ``annotation`` validates ``node`` with (None: not a model, or a union
    whose member the node does not name)."""
    models = [
        (m, tag)
        for m, tag in _members(annotation)
        if isinstance(m, type) and issubclass(m, BaseModel)
    ]
    if len(models) == 1:
        return models[0][0]
    for m, tag in models:
        if tag and isinstance(node, dict) and node.get(tag) in _tag_values(m, tag):
            return m
    return None


def _tag_values(cls: type[BaseModel], tag: str) -> tuple[Any, ...]:
    info = _field(cls, tag)
    if info is None:
        return ()
    members = [m for m, _ in _members(info.annotation) if get_origin(m) is Literal]
    return tuple(v for m in members for v in get_args(m))


def _union_tags(annotation: Any) -> tuple[str, list[str]] | None:
    """(discriminator, the names it may take) of a discriminated union, or None."""
    members = _members(annotation)
    tags = {tag for _, tag in members if tag}
    if len(tags) != 1:
        return None
    tag = tags.pop()
    names = [
        str(v)
        for m, _ in members
        if isinstance(m, type) and issubclass(m, BaseModel)
        for v in _tag_values(m, tag)
    ]
    return tag, sorted(names)


def _field(cls: type[BaseModel], key: Any) -> FieldInfo | None:
    for name, info in cls.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _element(annotation: Any, index: int) -> Any:
    """The annotation of item ``index`` of a list or tuple annotation (None when unknown)."""
    for member, _ in _members(annotation):
        origin, args = get_origin(member), get_args(member)
        if origin is list and args:
            return args[0]
        if origin is tuple and args:
            if len(args) == 2 and args[1] is Ellipsis:
                return args[0]
            return args[index] if index < len(args) else None
    return None


def _show_key(key: Any) -> str:
    """A key as a path part: look-alike and invisible characters escaped, ``""`` if empty."""
    text = str(key)
    if not text:
        return '""'
    return text if text.isascii() and text.isprintable() else ascii(text)[1:-1]


def locate(loc: tuple[Any, ...], raw: Any) -> tuple[str, Any, Any]:
    """(the field path as a spec writes it, the annotation there, the raw value there) of a
    pydantic error location: ``('models', 0, 'cwae', 'lambda', 1)`` -> ``models[0].lambda[1]``.
    Parts that are not in the spec (a union's tag, a member's label such as ``float``) are
    dropped; an index into a value the spec gave as a scalar (a grid axis) too."""
    path = ""
    node: Any = raw
    annotation: Any = SweepSpec
    for part in loc:
        model = _model_of(annotation, node)
        if isinstance(part, int):
            if isinstance(node, list):
                path += f"[{part}]"
                node = node[part] if part < len(node) else None
            elif isinstance(node, dict) and part in node:
                path += f".{part}" if path else str(part)
                node = node[part]
                annotation = None
                continue
            annotation = _element(annotation, part)
            continue
        info = _field(model, part) if model is not None else None
        if (isinstance(node, dict) and part in node) or info is not None:
            key = _show_key(part)
            path += f".{key}" if path else key
            node = node.get(part) if isinstance(node, dict) else None
            annotation = _field_annotation(info) if info is not None else None
    return path or "(top level)", annotation, node


def _field_annotation(info: FieldInfo) -> Any:
    """A field's annotation with its metadata (a union's discriminator is there, or on the
    field itself when the union is the field's whole annotation: a model's ``init``)."""
    metadata = list(info.metadata)
    if isinstance(info.discriminator, str):
        metadata.append(Field(discriminator=info.discriminator))
    if not metadata:
        return info.annotation
    return operator.getitem(Annotated, (info.annotation, *metadata))


def format_path(loc: tuple[Any, ...], raw: Any) -> str:
    """``('models', 0, 'cwae', 'lambda', 1)`` -> ``models[0].lambda[1]`` (union tags dropped)."""
    return locate(loc, raw)[0]


def _class_at(loc: tuple[Any, ...], raw: dict[str, Any]) -> type[BaseModel] | None:
    """The config class whose keys live at ``loc`` (for the 'allowed keys' of an error): the
    nested model or union member that owns the leaf, in every section."""
    _, annotation, node = locate(loc, raw)
    return _model_of(annotation, node)


def _allowed_keys(cls: type[BaseModel]) -> str:
    return ", ".join(sorted(info.alias or name for name, info in cls.model_fields.items()))


def _kind_of(value: Any) -> str:
    """What a YAML value is, as a spec writer calls it (``a list``, ``null``)."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "null" if value is None else f"a {type(value).__name__}"


def _message(err: ErrorDetails, raw: dict[str, Any]) -> tuple[str, str]:
    """(what is wrong and what is allowed, `` (got ...)`` or "") of one pydantic error."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    loc = tuple(err["loc"])
    if kind == "extra_forbidden":
        cls = _class_at(loc[:-1], raw)
        allowed = f"; allowed: {_allowed_keys(cls)}" if cls else ""
        return f"unknown key{allowed}", ""
    if kind == "too_short":
        return "must not be empty (a grid axis or list needs at least one value)", ""
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = str(ctx.get("discriminator", "")).strip("'")
        _, annotation, _ = locate(loc, raw)
        known = _union_tags(annotation)
        names = ", ".join(known[1]) if known else str(ctx.get("expected_tags", "")).replace("'", "")
        if kind == "union_tag_not_found":
            return f"required field is missing; allowed: {names}", ""
        return f"unknown {tag} {shown(ctx.get('tag'))}; allowed: {names}", ""
    if kind == "missing":
        cls = _class_at(loc[:-1], raw)
        info = _field(cls, loc[-1]) if cls is not None else None
        about = f" ({info.description})" if info is not None and info.description else ""
        return f"required field is missing{about}", ""
    if kind in ("model_type", "model_attributes_type", "dict_type", "dataclass_type"):
        return f"expected a mapping (key: value), got {_kind_of(err.get('input'))}", ""
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {_kind_of(err.get('input'))}", ""
    msg = err["msg"].removeprefix("Value error, ")
    if "input" not in err:
        return msg, ""
    value = err["input"]
    if isinstance(value, dict | list):
        return msg, "" if kind == "value_error" else f" (got {_kind_of(value)})"
    got = shown(value)
    return msg, "" if isinstance(value, str) and got in msg else f" (got {got})"


def validation_lines(exc: ValidationError, raw: dict[str, Any], source: str) -> list[str]:
    """One line per problem; the errors of a union's members at one field become one line."""
    by_path: dict[str, list[tuple[str, str]]] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = format_path(loc, raw)
        ctx = err.get("ctx") or {}
        if err["type"] == "duplicate_value":
            first, value = ctx["first"], shown(ctx["value"])
            message = f"duplicate of {path}[{first}] ({value}): a grid axis holds each value once"
            by_path.setdefault(f"{path}[{ctx['index']}]", []).append((message, ""))
            continue
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path += "." + str(ctx.get("discriminator", "")).strip("'")
        by_path.setdefault(path, []).append(_message(err, raw))
    lines = []
    for path, found in by_path.items():
        if any(p.startswith(f"{path}[") for p in by_path) and found[0][0].startswith("must not"):
            continue  # "empty" only because its items failed: those lines say why
        messages = list(dict.fromkeys(m for m, _ in found))
        joined = messages[0]
        for more in messages[1:]:
            joined += " or " + more.removeprefix("Input should be ")
        lines.append(f"{source}: {path}: {joined}{found[-1][1]}")
    return lines


def load_spec(path: str | Path, overrides: list[str] | None = None) -> SweepSpec:
    """Read, override and validate a spec; raises :class:`SpecError` with one line a problem."""
    path = Path(path)
    raw = apply_overrides(read_yaml(path), overrides or [])
    try:
        return SweepSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(validation_lines(exc, raw, str(path))) from None


def load_plan(
    path: str | Path, overrides: list[str] | None = None
) -> tuple[SweepSpec, list[TrialConfig]]:
    """The spec and its trials, every problem (schema or grid point) as a :class:`SpecError`."""
    spec = load_spec(path, overrides)
    try:
        return spec, plan(spec)
    except PlanError as exc:
        raise SpecError([f"{path}: {p}" for p in exc.problems]) from None
