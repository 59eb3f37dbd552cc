"""Name -> component registries: the one place a spec name becomes code.

Entries are either objects or lazy ``"module:attribute"`` strings, so the names are known
(for spec validation and ``--help``) without importing torch or ray.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownComponentError(KeyError):
    """A spec named a component that no registry entry provides."""

    def __init__(self, kind: str, name: str, allowed: list[str]) -> None:
        self.kind, self.name, self.allowed = kind, name, allowed
        super().__init__(f"unknown {kind} {name!r}; allowed: {', '.join(allowed)}")

    def __str__(self) -> str:
        return self.args[0]


class Registry(Generic[T]):
    """A dict of named components, filled by a decorator or by lazy import paths."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("cwae")`` on a class or function."""

        def add(obj: T) -> T:
            self._entries[name] = obj
            return obj

        return add

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``"package.module:attr"``, imported on first :meth:`get`."""
        self._entries[name] = target

    def get(self, name: str) -> T:
        try:
            entry = self._entries[name]
        except KeyError:
            raise UnknownComponentError(self.kind, name, self.names()) from None
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
