"""JSONC as Mux reads and writes it: npm jsonc-parser on the way in, `JSON.stringify(v, null, 2)`
on the way out.

`parse` accepts JSON plus `//` and `/* */` comments and trailing commas, and nothing else: Mux
discards jsonc-parser's errors and reads a best guess from a broken file, but a file we cannot
read exactly must never be rewritten. Values come back as JavaScript would see them (numbers are
doubles, a repeated key keeps its first position and its last value, lone surrogates survive).

`dumps` writes what `JSON.stringify(value, null, 2)` writes for the same value, byte for byte,
so a Mux settings save after ours changes nothing but the comment header. Secrets are revealed
here and nowhere else in the renderer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, NoReturn

from provision.errors import Diagnostic, DiagnosticsError, Span
from provision.record import record
from provision.secrets import Secret

MAX_SAFE_INTEGER = 2**53 - 1
# Mux refuses these as key path segments; JavaScript turns a "__proto__" key into a prototype.
FORBIDDEN_KEYS = frozenset({"__proto__", "prototype", "constructor"})

_WHITESPACE = " \t\r\n"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_PLAIN = re.compile(r'[^"\\\x00-\x1f]+')
_SURROGATE = re.compile("[\ud800-\udfff]")
# JavaScript orders integer-like keys ("0", "42") before every other key, ascending.
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_MAX_ARRAY_INDEX = 2**32 - 2


class JsoncError(ValueError):
    """Text that is not JSONC; line and column are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message} at line {line}, column {column}")
        self.message = message
        self.line = line
        self.column = column


@record(kw_only=False)
class Comment:
    """A comment as parsed, at its 1-based line and column; `leading` when before the value."""

    text: str  # without the `//` or `/* */` markers
    line: int
    column: int
    block: bool
    leading: bool  # before the first value token


@record(kw_only=False)
class Parsed:
    """A JSONC document as parsed: its value and every comment, in order. `empty` tells a
    document with no value from one holding `null`."""

    value: Any  # None for a document with no value at all (empty or only comments)
    comments: tuple[Comment, ...]
    empty: bool


def parse(text: str, *, reject_keys: frozenset[str] = frozenset()) -> Parsed:
    """Parse JSONC text; raises JsoncError. A key in `reject_keys` anywhere is an error."""
    return _Parser(text, reject_keys).document()


class _Parser:
    def __init__(self, text: str, reject_keys: frozenset[str]) -> None:
        # Node keeps a byte order mark as a character; jsonc-parser skips it with an error.
        self.text = text.removeprefix("\ufeff")
        self.pos = 0
        self.reject = reject_keys
        self.comments: list[Comment] = []
        self.seen_value = False

    def document(self) -> Parsed:
        self.skip()
        if self.pos == len(self.text):
            return Parsed(value=None, comments=tuple(self.comments), empty=True)
        value = self.value()
        self.skip()
        if self.pos != len(self.text):
            self.fail("Unexpected text after the end of the document")
        return Parsed(value=value, comments=tuple(self.comments), empty=False)

    def where(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        return line, pos - (self.text.rfind("\n", 0, pos) + 1) + 1

    def fail(self, message: str, pos: int | None = None) -> NoReturn:
        raise JsoncError(message, *self.where(self.pos if pos is None else pos))

    def skip(self) -> None:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in _WHITESPACE:
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = len(text)
                for stop in ("\n", "\r"):
                    found = text.find(stop, self.pos)
                    if found != -1:
                        end = min(end, found)
                self.comment(text[self.pos + 2 : end], block=False)
                self.pos = end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end == -1:
                    self.fail("Unterminated /* comment")
                self.comment(text[self.pos + 2 : end], block=True)
                self.pos = end + 2
            else:
                return

    def comment(self, body: str, *, block: bool) -> None:
        line, column = self.where(self.pos)
        self.comments.append(Comment(body, line, column, block, leading=not self.seen_value))

    def value(self) -> Any:
        self.seen_value = True
        text, pos = self.text, self.pos
        ch = text[pos] if pos < len(text) else ""
        if ch == "{":
            return self.object()
        if ch == "[":
            return self.array()
        if ch == '"':
            return self.string()
        for word, result in (("true", True), ("false", False), ("null", None)):
            if text.startswith(word, pos):
                self.pos += len(word)
                return result
        match = _NUMBER.match(text, pos)
        if match is None:
            self.fail("Expected a value" if ch else "Unexpected end of the document")
        self.pos = match.end()
        return self.number(match.group(), pos)

    def number(self, literal: str, start: int) -> int | float:
        if literal.lstrip("-").isdigit() and abs(int(literal)) <= MAX_SAFE_INTEGER:
            return int(literal)
        result = float(literal)
        if math.isinf(result):
            self.fail("Number out of range", start)
        return result

    def object(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("}", self.pos):
                self.pos += 1
                return result
            if not self.text.startswith('"', self.pos):
                self.fail("Expected a property name in double quotes or '}'")
            key_pos = self.pos
            key = self.string()
            if key in self.reject:
                self.fail(f'The key "{key}" is not allowed', key_pos)
            self.skip()
            if not self.text.startswith(":", self.pos):
                self.fail("Expected ':'")
            self.pos += 1
            self.skip()
            # Like a JavaScript object: a repeated key keeps its place and takes the last value.
            result[key] = self.value()
            if not self.separator("}"):
                return result

    def array(self) -> list[Any]:
        result: list[Any] = []
        self.pos += 1
        while True:
            self.skip()
            if self.text.startswith("]", self.pos):
                self.pos += 1
                return result
            result.append(self.value())
            if not self.separator("]"):
                return result

    def separator(self, close: str) -> bool:
        """After a member: True when another (or a trailing comma) follows, False at the end."""
        self.skip()
        if self.text.startswith(",", self.pos):
            self.pos += 1
            return True
        if self.text.startswith(close, self.pos):
            self.pos += 1
            return False
        self.fail(f"Expected ',' or '{close}'")

    def string(self) -> str:
        text = self.text
        start = self.pos
        self.pos += 1
        units: list[str] = []
        while True:
            match = _PLAIN.match(text, self.pos)
            if match is not None:
                units.append(match.group())
                self.pos = match.end()
            if self.pos >= len(text):
                self.fail("Unterminated string", start)
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                break
            if ch != "\\":
                self.fail("Control character in a string (escape it)")
            esc = text[self.pos + 1 : self.pos + 2]
            if esc == "u":
                digits = text[self.pos + 2 : self.pos + 6]
                if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                    self.fail("Invalid \\u escape")
                units.append(chr(int(digits, 16)))
                self.pos += 6
            elif esc in _ESCAPES:
                units.append(_ESCAPES[esc])
                self.pos += 2
            else:
                self.fail("Invalid escape character in a string")
        # Join UTF-16 surrogate pairs written as two escapes; a lone half stays as it is.
        joined = "".join(units)
        if _SURROGATE.search(joined):
            return joined.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
        return joined


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
    # Python and well-formed JSON.stringify escape the same set, in the same (lowercase) form,
    # except lone surrogates, which Python would leave raw and JavaScript escapes. This is what
    # json.dumps(text, ensure_ascii=False) runs, without building an encoder for every string.
    encoded = encode_basestring(text)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)


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


def read_object(
    path: Path, existing: bytes | None, is_header: Callable[[Comment], bool]
) -> tuple[dict[str, Any], list[Diagnostic]]:
    """The object a merge-managed file holds now ({} when absent or empty), plus a warning
    when it has comments other than the header. Raises DiagnosticsError for anything else."""
    if existing is None:
        return {}, []

    def refuse(summary: str, line: int = 1, column: int = 1) -> DiagnosticsError:
        detail = "provision never rewrites a file it cannot read exactly; fix it or move it away."
        span = Span(str(path), line, column, line, column + 1)
        return DiagnosticsError([Diagnostic.error(summary, detail, span)])

    try:
        text = existing.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = existing.count(b"\n", 0, exc.start) + 1
        column = exc.start - (existing.rfind(b"\n", 0, exc.start) + 1) + 1
        raise refuse(f"{path} is not valid UTF-8", line, column) from None
    try:
        parsed = parse(text, reject_keys=FORBIDDEN_KEYS)
    except JsoncError as exc:
        raise refuse(f"Cannot parse {path}: {exc.message}", exc.line, exc.column) from None
    if not parsed.empty and not isinstance(parsed.value, dict):
        raise refuse(f"{path} does not hold a JSON object at the top level")
    warnings = []
    notes = [c for c in parsed.comments if not is_header(c)]
    if notes:
        first = notes[0]
        warnings.append(
            Diagnostic.warning(
                f"Comments in {path} will be lost",
                f"{len(notes)} comment(s) outside the header, the first at line {first.line}, "
                f"column {first.column}. The file is rewritten as plain JSON after the header, as "
                "Mux's own settings save does; keep notes in the spec instead.",
                Span(str(path), first.line, first.column, first.line, first.column + 2),
            )
        )
    return (parsed.value if isinstance(parsed.value, dict) else {}), warnings


class SensitiveBytes(bytes):
    """File content holding a secret: usable as bytes, but its repr and str are masked, so an
    Artifact or Rendered that is printed or logged does not carry the value along."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes, sensitive>"

    __str__ = __repr__
