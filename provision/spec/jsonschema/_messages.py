"""Failures and the words for them: where a value is, what it is, what was expected."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from provision.errors import closest
from provision.secrets import Secret
from provision.spec.source import Path, format_path

_TYPE_NAMES = {
    "string": "a string", "number": "a number", "integer": "an integer",
    "boolean": "true or false", "object": "a mapping", "array": "a list", "null": "null",
}  # fmt: skip
_KINDS: dict[type, str] = {
    str: "string", bool: "boolean", int: "integer", float: "number", dict: "object",
    list: "array", tuple: "array", type(None): "null", Secret: "string",
}  # fmt: skip

Types = tuple[str, ...] | None  # None: any type


class _Error:
    """A failure at path. Its text may be written only when asked for (`make`): most failures
    happen in `if` conditions and in anyOf branches that another branch makes moot, and a
    "Did you mean" search for each of those dominated validating a large spec."""

    __slots__ = ("_detail", "_make", "_summary", "at_key", "kind", "path")

    def __init__(
        self,
        path: Path,
        summary: str = "",
        detail: str = "",
        kind: str = "",
        at_key: bool = False,
        make: Callable[[], tuple[str, str]] | None = None,
    ) -> None:
        self.path, self._summary, self._detail, self._make = path, summary, detail, make
        self.kind, self.at_key = kind, at_key

    @property
    def summary(self) -> str:
        self._write()
        return self._summary

    @property
    def detail(self) -> str:
        self._write()
        return self._detail

    def _write(self) -> None:
        if self._make is not None:
            self._summary, self._detail = self._make()
            self._make = None


# Messages.


def _fail(
    path: Path, summary: str, detail: str, kind: str, xmsg: str | None, at_key: bool = False
) -> _Error:
    return _Error(path, *_message(path, summary, detail, xmsg), kind, at_key)


def _message(path: Path, summary: str, detail: str, xmsg: str | None) -> tuple[str, str]:
    if xmsg is not None:
        summary, detail = xmsg.replace("{path}", format_path(path)), f"{summary}.\n{detail}"
    return summary, detail.strip()


def _type_error(path: Path, types: tuple[str, ...], value: Any, xmsg: str | None) -> _Error:
    def message() -> tuple[str, str]:
        names = [t for t in types if not (t == "integer" and "number" in types)]
        words = [_TYPE_NAMES.get(t, t) for t in names] or ["nothing"]
        expected = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
        hint = ""
        if "string" in types and isinstance(value, bool | int | float):
            hint = "Quote the value to make it a string."
        elif "string" not in types and isinstance(value, str) and _parses_as(value, types):
            hint = "Remove the quotes: a quoted value is always a string."
        elif "integer" in types and isinstance(value, float) and value.is_integer():
            hint = f"Write {int(value)} without a decimal point."
        summary = f"Expected {expected} {_for(path)}, got {_got(value)}"
        return _message(path, summary, hint, xmsg)

    return _Error(path, kind="type", make=message)


def _unknown_key(
    path: Path, key: object, known: Iterable[str], patterns: Iterable[str], variants: str = ""
) -> _Error:
    """An unknown key, or one that belongs to another variant (a target of another type)."""
    allowed, patterns = sorted(known), list(patterns)

    def message() -> tuple[str, str]:
        shown = _show(key) or _text(key)
        close = None if variants else closest(_text(key), allowed)
        also = f"keys matching {' or '.join(patterns)}" if patterns else ""
        listed = ", ".join(allowed) + ("; also " + also if allowed and also else also)
        if close:
            detail = f"Did you mean {json.dumps(close)}?"
        else:
            detail = f"Allowed keys: {listed}." if listed else "No keys are allowed here."
        summary = f"Unknown key {shown} {_in(path)}"
        if variants:
            summary = f"Key {shown} is not allowed {_in(path)}"
            detail = f"It is only allowed when {variants}.\n{detail}"
        return summary, detail

    return _Error((*path, _pkey(key)), kind="unknown", at_key=True, make=message)


def _in(path: Path) -> str:
    return f"in {format_path(path)}" if path else "at the top level"


def _for(path: Path) -> str:
    return f"for {format_path(path)}" if path else "at the top level"


def _invalid(value: Any, path: Path) -> str:
    shown = _show(value)
    return f"Invalid value {shown} {_for(path)}" if shown else f"Invalid value {_for(path)}"


def _show(value: Any) -> str | None:
    """A short rendering of a scalar for a message; None for secrets and containers."""
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:57] + "…", ensure_ascii=False)
    if value is None or isinstance(value, bool | int | float):
        return _num(value)
    return None


def _num(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return _text(value) if not isinstance(value, str) else value


def _text(value: object) -> str:
    # Python refuses to print an int of more than 4300 digits; YAML will happily parse one.
    try:
        return value if isinstance(value, str) else repr(value)
    except ValueError:
        return "(a very large number)"


def _got(value: Any) -> str:
    if isinstance(value, str | Secret):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return _show(value) or f"a {type(value).__name__} value"


def _parses_as(text: str, types: tuple[str, ...]) -> bool:
    if len(text) > 40 or text.strip() != text:
        return False
    try:
        kind = _kind(json.loads(text))
    except ValueError:
        return False
    return kind in types or (kind == "integer" and "number" in types)


# Values.


def _kind(value: Any) -> str:
    kind = _KINDS.get(type(value))
    if kind is not None:
        return kind
    for cls, name in _KINDS.items():
        if isinstance(value, cls):
            return name
    return "object" if isinstance(value, Mapping) else "unknown"


def _freeze(value: Any) -> object:
    """A hashable form in which JSON-equal values are equal: 1 == 1.0 but true != 1. A secret is
    equal only to itself, so comparing never looks at its value."""
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, list | tuple):
        return ("l", tuple(_freeze(v) for v in value))
    if isinstance(value, Mapping):
        return ("m", frozenset((k, _freeze(v)) for k, v in value.items()))
    return ("o", id(value))


def _intersect(a: Types, b: Types) -> Types:
    if a is None or b is None:
        return b if a is None else a
    return tuple(t for t in a if t in b or (t == "integer" and "number" in b))


def _pkey(key: object) -> str | int:
    return key if isinstance(key, str | int) and not isinstance(key, bool) else _text(key)
