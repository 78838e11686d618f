"""One registry style for every named choice (timm's register/create): spaces, strategies, datasets and losses.

Plain Python, no torch: the command line lists the names before anything heavy is imported."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Registered entries by name; `kind` names them in errors ("space", "loss"), `error` is the exception an unknown
    name raises (one line listing the names)."""

    def __init__(self, kind: str, error: type[Exception] = KeyError):
        self.kind, self.error, self._items = kind, error, {}

    def add(self, name: str, entry: T) -> T:
        """Register `entry` as `name` (a second entry of one name is a programming error)."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = entry
        return entry

    def register(self, cls: type) -> type:
        """Class decorator: one instance of `cls` becomes available as `cls.name`."""
        self.add(cls.name, cls())
        return cls

    def register_as(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated class or function itself as `name`."""
        return lambda entry: self.add(name, entry)

    def create(self, name: str) -> T:
        """The entry registered as `name` (`error`, one line, for any other)."""
        try:
            return self._items[name]
        except KeyError:
            raise self.error(f"unknown {self.kind} {name!r}: choose one of {', '.join(self._items)}") from None

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        return tuple(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, name: str) -> T:
        return self.create(name)

    def items(self):
        """(name, entry) pairs, in registration order."""
        return self._items.items()

    def values(self):
        """The entries, in registration order."""
        return self._items.values()
