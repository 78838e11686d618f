"""The search's registries (spaces, strategies) use the project's one registry style, with UnknownName errors."""
from __future__ import annotations

from typing import TypeVar

from unet_core.registry import Registry as _Registry

from search.errors import UnknownName

T = TypeVar("T")


class Registry(_Registry[T]):
    """unet_core.registry.Registry whose unknown name is an UnknownName (a one-line ConfigError)."""

    def __init__(self, kind: str):
        super().__init__(kind, UnknownName)
