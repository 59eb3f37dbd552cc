"""Name -> component registries: the one place a spec name becomes code.

Every entry carries a value known without importing torch (a config class, or a small
description of the component) and the ``"module:attribute"`` paths of its implementations,
imported only when a trial needs them (:func:`import_target`, the one such lookup). An entry
may have several implementations by role (a strategy's ``"default"`` for autoencoders and its
``"generator"`` step for the data-space generator).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

V = TypeVar("V")
DEFAULT = "default"


class UnknownComponentError(KeyError):
    """A spec named a component that no registry entry provides."""

    def __init__(self, kind: str, name: str, allowed: list[str]) -> None:
        self.kind, self.name, self.allowed = kind, name, allowed
        super().__init__(f"unknown {kind} {ascii(name)}; allowed: {', '.join(allowed)}")

    def __str__(self) -> str:
        return str(self.args[0])


def import_target(target: str) -> Any:
    """``"package.module:attr"`` -> the attribute (imports the module)."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"an implementation path is 'module:attribute', got {target!r}")
    return getattr(importlib.import_module(module), attr)


@dataclass
class Entry(Generic[V]):
    """One registered name: its value and the paths of its implementations by role."""

    name: str
    value: V
    targets: Mapping[str, str] = field(default_factory=dict)
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False)

    def load(self, role: str = DEFAULT) -> Any:
        if role not in self._loaded:
            if role not in self.targets:
                roles = ", ".join(sorted(self.targets)) or "none"
                raise LookupError(f"{self.name!r} has no {role!r} implementation (has: {roles})")
            self._loaded[role] = import_target(self.targets[role])
        return self._loaded[role]


class Registry(Generic[V]):
    """Named entries, filled by the :meth:`register` decorator or :meth:`add`.

    ``check`` (optional) is called with each value as it is registered and raises if the
    value does not declare what this registry needs (a strategy's ``supports``, say).
    """

    def __init__(self, kind: str, *, check: Callable[[str, V], None] | None = None) -> None:
        self.kind = kind
        self._check = check
        self._entries: dict[str, Entry[V]] = {}

    def add(self, name: str, value: V, *, implementation: str | None = None, **roles: str) -> V:
        """Register ``value`` under ``name``; ``implementation`` is the default role's path,
        ``roles`` further ones (``generator="module:Class"``)."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        if self._check is not None:
            self._check(name, value)
        targets = dict(roles)
        if implementation is not None:
            targets[DEFAULT] = implementation
        self._entries[name] = Entry(name, value, targets)
        return value

    def register(
        self, name: str, *, implementation: str | None = None, **roles: str
    ) -> Callable[[V], V]:
        """Decorator: ``@MODELS.register("cwae", implementation="...model:CWAE")`` on a class."""

        def add(value: V) -> V:
            return self.add(name, value, implementation=implementation, **roles)

        return add

    def entry(self, name: str) -> Entry[V]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownComponentError(self.kind, name, self.names()) from None

    def get(self, name: str) -> V:
        """The registered value (for config registries: the config class)."""
        return self.entry(name).value

    def load(self, name: str, role: str = DEFAULT) -> Any:
        """The implementation of ``name`` for ``role``, imported on first use."""
        return self.entry(name).load(role)

    def has_role(self, name: str, role: str) -> bool:
        return role in self.entry(name).targets

    def names(self) -> list[str]:
        return sorted(self._entries)

    def values(self) -> list[V]:
        return [self._entries[n].value for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
