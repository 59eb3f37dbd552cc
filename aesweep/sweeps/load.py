"""Reading a spec file: YAML (safe_load), ``--set`` overrides, validation, clear error lines.

Every problem becomes one line naming the file and field path (or line and column) and what
is allowed; :class:`SpecError` carries them to the CLI, which prints them and exits with 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from aesweep.catalog import DATASETS, MODELS, STRATEGIES
from aesweep.config.optimizer import OptimizerConfig
from aesweep.config.registry import Registry
from aesweep.config.trial import TrialConfig
from aesweep.sweeps.plan import PlanError, plan
from aesweep.sweeps.spec import SweepSpec


class SpecError(Exception):
    """A spec that cannot run; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError([f"{path}: no such file"]) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise SpecError([f"{path}: cannot read the spec ({exc.__class__.__name__})"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        what = " ".join(filter(None, [exc.context, exc.problem]))
        raise SpecError([f"{where}: YAML syntax error: {what}"]) from None
    except yaml.YAMLError as exc:
        raise SpecError([f"{path}: YAML error: {exc}"]) from None
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else f"a {type(raw).__name__}"
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
            value = yaml.safe_load(text)
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


def _entry_class(section: str, entry: Any) -> type[BaseModel] | None:
    registry: dict[str, Registry[Any]] = {
        "models": MODELS,
        "strategies": STRATEGIES,
        "data": DATASETS,
    }
    tag = {"models": "family", "strategies": "kind", "data": "dataset"}[section]
    name = entry.get(tag) if isinstance(entry, dict) else None
    if not isinstance(name, str) or name not in registry[section]:
        return None
    cls: type[BaseModel] = registry[section].get(name)
    return cls


def _class_at(loc: tuple[Any, ...], raw: dict[str, Any]) -> type[BaseModel] | None:
    """The config class whose keys live at ``loc`` (for the 'allowed keys' of an error)."""
    keys = [p for p in loc if not (isinstance(p, str) and _is_tag(p))]
    if not keys:
        return SweepSpec
    section = keys[0]
    if section in ("models", "strategies", "data"):
        node = raw.get(section)
        if isinstance(node, list) and len(keys) > 1 and isinstance(keys[1], int):
            node = node[keys[1]] if keys[1] < len(node) else None
        return _entry_class(section, node)
    if section == "optimizer":
        return OptimizerConfig
    field = SweepSpec.model_fields.get(section)
    ann = field.annotation if field else None
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _is_tag(part: str) -> bool:
    names = set(MODELS.names()) | set(STRATEGIES.names()) | set(DATASETS.names())
    return part in names


def _allowed_keys(cls: type[BaseModel]) -> str:
    return ", ".join(sorted(info.alias or name for name, info in cls.model_fields.items()))


def format_path(loc: tuple[Any, ...], raw: Any) -> str:
    """``('models', 0, 'cwae', 'lambda', 1)`` -> ``models[0].lambda[1]`` (union tags dropped)."""
    out = ""
    node = raw
    for part in loc:
        if isinstance(part, int):
            if not isinstance(node, list):
                continue  # a scalar the spec gave where a list (grid axis) is allowed
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
        elif isinstance(node, dict) and part not in node and _is_tag(part):
            continue
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def _message(err: ErrorDetails, raw: dict[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        cls = _class_at(tuple(err["loc"][:-1]), raw)
        allowed = f"; allowed: {_allowed_keys(cls)}" if cls else ""
        return f"unknown key{allowed}"
    if kind == "too_short":
        return "must not be empty (a grid axis needs at least one value)"
    tag = str(ctx.get("discriminator", "")).strip("'")
    if kind == "union_tag_invalid":
        tags = ctx.get("expected_tags", "").replace("'", "")
        return f"unknown {tag} {ctx.get('tag')!r}; allowed: {tags}"
    if kind == "union_tag_not_found":
        return f"missing key {tag!r}"
    if kind == "missing":
        return "required field is missing"
    msg = err["msg"].removeprefix("Value error, ")
    if "input" in err and kind not in ("too_short",) and not isinstance(err["input"], dict | list):
        msg += f" (got {err['input']!r})"
    return msg


def validation_lines(exc: ValidationError, raw: dict[str, Any], source: str) -> list[str]:
    lines = []
    for err in exc.errors():
        path = format_path(tuple(err["loc"]), raw)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path += "." + (err.get("ctx") or {}).get("discriminator", "").strip("'")
        lines.append(f"{source}: {path}: {_message(err, raw)}")
    return list(dict.fromkeys(lines))


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
