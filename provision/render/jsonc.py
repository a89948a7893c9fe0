"""JSONC as Mux reads and writes it: npm jsonc-parser on the way in, `JSON.stringify(v, null, 2)`
on the way out. This module writes; reading (`parse`, `read_object`) is in `_jsonc_read` and is
re-exported here, so callers need only this module.

`dumps` writes what `JSON.stringify(value, null, 2)` writes for the same value, byte for byte,
so a Mux settings save after ours changes nothing but the comment header. Secrets are revealed
here and nowhere else in the renderer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any

from provision.render._jsonc_read import (
    _SURROGATE,
    FORBIDDEN_KEYS,
    MAX_SAFE_INTEGER,
    Comment,
    JsoncError,
    Parsed,
    parse,
    read_object,
)
from provision.secrets import REDACTOR, Secret

__all__ = [
    "FORBIDDEN_KEYS",
    "MAX_SAFE_INTEGER",
    "Comment",
    "JsoncError",
    "Parsed",
    "SensitiveBytes",
    "Unrepresentable",
    "dumps",
    "is_unicode",
    "js_key_order",
    "js_number",
    "parse",
    "read_object",
    "to_data",
]

# JavaScript orders integer-like keys ("0", "42") before every other key, ascending.
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_MAX_ARRAY_INDEX = 2**32 - 2


def dumps(value: Any) -> str:
    """`JSON.stringify(value, null, 2)`; Secrets are written as their value. Raises ValueError
    for what JSON cannot hold (NaN, infinities, unsafe integers, non-string keys)."""
    out: list[str] = []
    _write(value, "", out)
    return "".join(out)


def _write(value: Any, indent: str, out: list[str]) -> None:
    if isinstance(value, Secret):
        value = value.reveal()
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None or isinstance(value, bool):
        out.append({None: "null", True: "true", False: "false"}[value])
    elif isinstance(value, int | float):
        out.append(js_number(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = indent + "  "
        out.append("{")
        for n, key in enumerate(js_key_order(value)):
            out.append(("," if n else "") + "\n" + inner + _string(key) + ": ")
            _write(value[key], inner, out)
        out.append("\n" + indent + "}")
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        inner = indent + "  "
        out.append("[")
        for n, item in enumerate(value):
            out.append(("," if n else "") + "\n" + inner)
            _write(item, inner, out)
        out.append("\n" + indent + "]")
    else:
        raise ValueError(f"{type(value).__name__} is not a JSON value")


def _string(text: str) -> str:
    return '"' + _string_body(text) + '"'


def _string_body(text: str) -> str:
    # Python and well-formed JSON.stringify escape the same set, in the same (lowercase) form,
    # except lone surrogates, which Python would leave raw and JavaScript escapes. This is what
    # json.dumps(text, ensure_ascii=False) runs, without building an encoder for every string.
    encoded = encode_basestring(text)[1:-1]
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)


# A secret in a providers.jsonc is written with these escapes: plan must mask it in that form.
REDACTOR.add_encoders(_string_body)


def js_key_order(obj: dict[Any, Any]) -> list[str]:
    """The order JavaScript enumerates an object's keys in: array indices first, ascending."""
    keys = list(obj)
    for key in keys:
        if not isinstance(key, str):
            raise ValueError(f"object key {key!r} is not a string")
    indices = sorted(
        (k for k in keys if _ARRAY_INDEX.fullmatch(k) and int(k) <= _MAX_ARRAY_INDEX), key=int
    )
    if not indices:
        return keys
    chosen = set(indices)
    return indices + [k for k in keys if k not in chosen]


def js_number(value: int | float) -> str:
    """`String(value)` for a JavaScript number (Number::toString, ECMA-262 §6.1.6.1.20)."""
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is beyond JavaScript's exact range")
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a JSON number")
    if value == 0:
        return "0"
    if value < 0:
        return "-" + js_number(-value)
    from decimal import Decimal  # floats are rare in a spec; most runs never import it

    # repr gives the shortest round-tripping digits, exactly the digits JavaScript picks.
    _, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = exponent + k  # value = 0.digits * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def is_unicode(text: str) -> bool:
    """False for text with a lone surrogate, which UTF-8 (and so Mux's file) cannot hold."""
    return _SURROGATE.search(text) is None


class Unrepresentable(ValueError):
    """A value JSON (as Mux reads it) cannot carry; `where` is its path, e.g. headers["X"]."""

    def __init__(self, reason: str, where: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = where


def to_data(value: Any, where: str) -> Any:
    """Plain JSON data (dicts, lists, str, numbers, bools, None, Secrets) from model values, or
    Unrepresentable for what would not read back as written."""
    if isinstance(value, Secret):
        if value.known and _SURROGATE.search(value.reveal()):
            raise Unrepresentable("The secret value is not valid Unicode text.", where)
        return value
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise Unrepresentable("The text holds a lone surrogate (not valid Unicode).", where)
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        try:
            js_number(value)
        except ValueError as exc:
            reason = f"{exc}; Mux reads numbers as JavaScript doubles."
            raise Unrepresentable(reason, where) from None
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise Unrepresentable(f"The key {key!r} is not a string.", where)
            inner = f"{where}[{_string(key)}]"
            if key in FORBIDDEN_KEYS:
                reason = f'"{key}" cannot be a key: Mux refuses it (prototype pollution guard).'
                raise Unrepresentable(reason, inner)
            if _SURROGATE.search(key):
                raise Unrepresentable("The key holds a lone surrogate.", inner)
            out[key] = to_data(item, inner)
        return out
    if isinstance(value, list | tuple):
        return [to_data(item, f"{where}[{n}]") for n, item in enumerate(value)]
    raise Unrepresentable(f"A {type(value).__name__} is not a JSON value.", where)


class SensitiveBytes(bytes):
    """File content holding a secret: usable as bytes, but its repr and str are masked, so an
    Artifact or Rendered that is printed or logged does not carry the value along."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes, sensitive>"

    __str__ = __repr__
