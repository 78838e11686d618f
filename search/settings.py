"""One declaration per setting: a dataclass field carries its flag's help, group and parsing, and the command line is
generated from those fields (`add_flags`, `given`). Adding a flag is adding one `setting(...)` field."""
from __future__ import annotations

import argparse
import types
import typing
from dataclasses import MISSING, Field, field, fields
from typing import Any, Callable

from search.errors import ConfigError

GROUPS = {  # --help's sections, in order
    "where": "what to search, on what, with which resources, and where to record it",
    "recipe": "the trials' recipe: seed, width, batch, patch, loss, data options and validation",
    "search": "the search itself: depths, skips, retries, ASHA, precision, folds and the final round",
    "noise": "noise-aware evaluation: reshuffled validation, racing on folds, the final round's rule",
    "strategy": "--strategy and its settings",
}


def setting(default: Any = MISSING, help: str = "", group: str = "where", *, parse: Callable[[str], Any] | None = None,
            shown: str | None = None, negatable: bool = False) -> Any:
    """A dataclass field that is also a command-line flag.

    Args:
        default: the value when the flag is not given (one place: the parser takes it from here).
        help: the flag's help, without its default (appended as "(default ...)").
        group: its --help section (a key of GROUPS).
        parse: turns the flag's text into the value (a ConfigError, one line, on bad text); None: the field's type.
        shown: the default as --help writes it, where the value itself says less (e.g. "auto" for 0).
        negatable: a boolean flag with a --no- form (default on); other booleans are plain switches.
    """
    meta = {"help": help, "group": group, "parse": parse, "shown": shown, "negatable": negatable}
    return field(default=default, metadata=meta)


def flag_name(name: str) -> str:
    """The command-line spelling of a field: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def _value_type(annotation: Any) -> type:
    """int for `int`, `int | None` and `Optional[int]`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def _default_text(f: Field) -> str:
    if f.metadata["shown"] is not None:
        return f.metadata["shown"]
    return "none" if f.default is None else f"{f.default:g}" if isinstance(f.default, float) else str(f.default)


def flag_fields(cls: type) -> list[Field]:
    """The fields of `cls` that are flags (declared with `setting`)."""
    return [f for f in fields(cls) if "group" in f.metadata]


def add_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one flag per `setting` field of the dataclass `cls`, grouped as GROUPS; a flag left out stays absent from the
    parsed namespace, so the dataclass's own default applies."""
    hints = typing.get_type_hints(cls)
    groups = {key: parser.add_argument_group(key, about) for key, about in GROUPS.items()}
    for f in flag_fields(cls):
        kind, meta = _value_type(hints[f.name]), f.metadata
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "dest": f.name}
        if kind is bool and meta["negatable"]:
            kwargs.update(action=argparse.BooleanOptionalAction, help=f"{meta['help']} (default {'on' if f.default else 'off'})")
        elif kind is bool:
            kwargs.update(action="store_true", help=meta["help"])
        else:
            kwargs.update(type=str if meta["parse"] else kind, help=f"{meta['help']} (default {_default_text(f)})")
        groups[meta["group"]].add_argument(flag_name(f.name), **kwargs)


def given(cls: type, namespace: argparse.Namespace) -> dict[str, Any]:
    """The flags the user gave, parsed into the field values of `cls` (ConfigError on text a field's parser refuses)."""
    out = {}
    for f in flag_fields(cls):
        if hasattr(namespace, f.name):
            value, parse = getattr(namespace, f.name), f.metadata["parse"]
            out[f.name] = parse(value) if parse is not None else value
    return out


def comma_list(item: Callable[[str], Any], flag: str, example: str) -> Callable[[str], tuple]:
    """A parser of comma-separated values ("2,3"), each by `item`; a bad item is one line naming `flag` and an example."""
    def parse(text: str) -> tuple:
        try:
            return tuple(item(x.strip()) for x in text.split(",") if x.strip())
        except ValueError:
            raise ConfigError(f"{flag} {text!r}: give {example}") from None
    return parse
