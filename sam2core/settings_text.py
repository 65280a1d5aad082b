"""Frozen settings dataclasses from one line of text, "name=value,name=value", as command lines
take them (--detector, --detection-options, --tracker-options)."""

from __future__ import annotations

from dataclasses import fields
from typing import TypeVar

T = TypeVar("T")


def parse_settings(cls: type[T], text: str) -> T:
    """A frozen dataclass `cls` from "name=value,name=value" (any subset of its int, float, bool,
    str and tuple-of-str fields; a tuple's items are separated by "+"), e.g.
    ``parse_settings(DetectorConfig, "every=4,jitter=0.1")``. ValueError names a bad item."""
    types = {each.name: each.type for each in fields(cls)}
    values: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in types or not value:
            raise ValueError(f"setting {item!r}: expected NAME=VALUE with NAME one of {', '.join(types)}")
        values[name] = _SETTING_TYPES[types[name]](value)
    return cls(**values)


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1")


_SETTING_TYPES = {
    "int": int,
    "float": float,
    "str": str,
    "bool": _flag,
    "tuple[str, ...]": lambda text: tuple(text.split("+")),
}
