"""A name -> class registry, so that code dispatches on names without if-chains."""
from __future__ import annotations

import difflib
from typing import Callable, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps lower-case identifiers to registered classes.

    Used for datasets, methods and backbones; ``get`` raises a ConfigError that
    lists the known names (and the closest match) instead of a KeyError.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        if not name.isidentifier() or name != name.lower():
            raise ValueError(f"{self.kind} name {name!r} must be a lower-case identifier")

        def deco(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            if getattr(obj, "name", None) != name:
                setattr(obj, "name", name)
            return obj

        return deco

    def get(self, name: str, key: str | None = None) -> T:
        if name not in self._items:
            close = difflib.get_close_matches(str(name), self._items, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                key or self.kind,
                f"unknown {self.kind} {name!r}.{hint}",
                f"use one of: {', '.join(sorted(self._items))}.",
            )
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def in_order(self) -> list[T]:
        """The registered objects in registration order (e.g. the metrics' evaluation order)."""
        return list(self._items.values())
