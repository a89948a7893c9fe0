"""Reading JSONC as Mux reads it (npm jsonc-parser), strictly; `provision.render.jsonc`
re-exports everything public here.

`parse` accepts JSON plus `//` and `/* */` comments and trailing commas, and nothing else: Mux
discards jsonc-parser's errors and reads a best guess from a broken file, but a file we cannot
read exactly must never be rewritten. Values come back as JavaScript would see them (numbers are
doubles, a repeated key keeps its first position and its last value, lone surrogates survive).
`read_object` applies that rule to a merge-managed file on disk.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from provision.errors import Diagnostic, DiagnosticsError, Span
from provision.record import record

MAX_SAFE_INTEGER = 2**53 - 1
# Mux refuses these as key path segments; JavaScript turns a "__proto__" key into a prototype.
FORBIDDEN_KEYS = frozenset({"__proto__", "prototype", "constructor"})

_WHITESPACE = " \t\r\n"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_PLAIN = re.compile(r'[^"\\\x00-\x1f]+')
_SURROGATE = re.compile("[\ud800-\udfff]")


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
