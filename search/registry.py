"""A name -> instance registry (timm-style register/create), shared by the search's spaces and strategies."""
from __future__ import annotations

from typing import Generic, TypeVar

from search.errors import UnknownName

T = TypeVar("T")


class Registry(Generic[T]):
    """Instances of registered classes by their `name`; `kind` names them in errors ("space", "strategy")."""

    def __init__(self, kind: str):
        self.kind, self._items = kind, {}

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: make one instance of `cls` available as `cls.name`."""
        self._items[cls.name] = cls()
        return cls

    def create(self, name: str) -> T:
        """The registered instance `name` (UnknownName, one line, for any other)."""
        try:
            return self._items[name]
        except KeyError:
            raise UnknownName(f"unknown {self.kind} {name!r}: choose one of {', '.join(self._items)}") from None

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        return tuple(self._items)
