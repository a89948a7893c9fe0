"""Load a JSON5 spec file into plain data plus a SourceMap.

The `json5` package puts positions only in its message text and keeps the last of two duplicate
keys, so this is a small recursive-descent parser for https://spec.json5.org/ (1.0.0) that
records where every node came from.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from bisect import bisect_right
from typing import Any

from provision.errors import Diagnostic, DiagnosticsError, Span
from provision.spec.source import Document, Path, SourceMap

# Far deeper than any spec; low enough that two frames per level stay below the recursion limit.
_MAX_DEPTH = 256

# WhiteSpace is TAB VT FF SP NBSP BOM and category Zs; LineTerminator is LF CR LS PS.
_SPACE = "\t\n\v\f\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_SKIP = re.compile(rf"(?:[{_SPACE}]+|//[^\n\r\u2028\u2029]*|/\*.*?\*/)*", re.DOTALL)
_BREAK = re.compile("\r\n?|[\n\u2028\u2029]")
_NUMBER = re.compile(
    r"[+-]?(?:Infinity|NaN|0[xX][0-9a-fA-F]+"
    r"|(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
)
_ASCII_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_PLAIN = {'"': re.compile(r'[^"\\\n\r]*'), "'": re.compile(r"[^'\\\n\r]*")}
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_ESCAPES = {
    "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\n": "", "\r": "", "\u2028": "", "\u2029": "",
}  # fmt: skip
_DIGITS = frozenset("0123456789")
_VALUE = "a value: an object, array, string, number, true, false or null"
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
_ID_START = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nl"})
_ID_PART = _ID_START | {"Mn", "Mc", "Nd", "Pc"}


def load_json5(text: str, filename: str, *, allow_empty: bool = False) -> Document:
    """Parse one JSON5 value; raise DiagnosticsError listing every problem found. With
    allow_empty, a text of only whitespace and comments is no value (None), as an empty YAML
    file is: a spec file may be empty, a value given on the command line may not."""
    parser = _Parser(text, filename)
    try:
        if allow_empty and parser.skip(0) == len(text):
            return Document(data=None, source=SourceMap(values={}, keys={}), files=(filename,))
        data, end = parser.value(0, (), 0)
        end = parser.skip(end)
        if end < len(text):
            raise parser.unexpected(end, "the end of the file after the top-level value")
    except RecursionError:
        parser.diags.append(
            Diagnostic.error("Invalid JSON5: nesting too deep", span=parser.span(0, 0))
        )
    if parser.diags:
        raise DiagnosticsError(parser.diags)
    return Document(
        data=data, source=SourceMap(values=parser.values, keys=parser.keys), files=(filename,)
    )


class _Parser:
    def __init__(self, text: str, filename: str) -> None:
        self.text, self.filename = text, filename
        self.line_starts = [0, *(m.end() for m in _BREAK.finditer(text))]
        self.values: dict[Path, Span] = {}
        self.keys: dict[Path, Span] = {}
        self.diags: list[Diagnostic] = []

    def value(self, pos: int, path: Path, depth: int) -> tuple[Any, int]:
        text = self.text
        pos = self.skip(pos)
        c = text[pos : pos + 1]
        value: Any
        if c == "{" or c == "[":
            if depth >= _MAX_DEPTH:
                raise self.error(f"nesting deeper than {_MAX_DEPTH} levels", pos, pos + 1)
            value, end = (self.object if c == "{" else self.array)(pos, path, depth + 1)
        elif c == '"' or c == "'":
            value, end = self.string(pos)
        elif (m := _NUMBER.match(text, pos)) is not None:
            value, end = self.number(m.group(), pos), m.end()
            self.check_word_end(end)
        elif (m := _ASCII_NAME.match(text, pos)) is not None and m.group() in _LITERALS:
            value, end = _LITERALS[m.group()], m.end()
            self.check_word_end(end)
        elif c in ("+", "-", "."):
            raise self.unexpected(pos + 1, "a number")
        else:
            name, end = self.identifier(pos, _VALUE)
            shown = json.dumps(name, ensure_ascii=False)
            raise self.error(f"unexpected identifier {shown}", pos, end, "strings need quotes")
        self.values[path] = self.span(pos, end)
        return value, end

    def object(self, pos: int, path: Path, depth: int) -> tuple[dict[str, Any], int]:
        text = self.text
        out: dict[str, Any] = {}
        first: dict[str, Span] = {}
        i = self.skip(pos + 1)
        while text[i : i + 1] != "}":
            c = text[i : i + 1]
            if c == '"' or c == "'":
                key, key_end = self.string(i)
            else:
                key, key_end = self.identifier(i, "a key (a string or a name) or }")
            key_span = self.span(i, key_end)
            colon = self.skip(key_end)
            if text[colon : colon + 1] != ":":
                raise self.unexpected(colon, ": after the key")
            here = (*path, key)
            if key in first:
                shown = json.dumps(key, ensure_ascii=False)
                detail = f"first defined at {first[key]}"
                self.diags.append(Diagnostic.error(f"Duplicate key {shown}", detail, key_span))
            else:
                first[key] = key_span
                self.keys[here] = key_span
            value, i = self.value(colon + 1, here, depth)
            out.setdefault(key, value)
            i = self.skip(i)
            c = text[i : i + 1]
            if c == ",":
                i = self.skip(i + 1)
            elif c != "}":
                raise self.unexpected(i, ", or } after the value")
        self.values[path] = self.span(pos, i + 1)
        return out, i + 1

    def array(self, pos: int, path: Path, depth: int) -> tuple[list[Any], int]:
        text = self.text
        out: list[Any] = []
        i = self.skip(pos + 1)
        while text[i : i + 1] != "]":
            value, i = self.value(i, (*path, len(out)), depth)
            out.append(value)
            i = self.skip(i)
            c = text[i : i + 1]
            if c == ",":
                i = self.skip(i + 1)
            elif c != "]":
                raise self.unexpected(i, ", or ] after the value")
        self.values[path] = self.span(pos, i + 1)
        return out, i + 1

    def string(self, pos: int) -> tuple[str, int]:
        text, quote = self.text, self.text[pos]
        plain = _PLAIN[quote]
        i = plain.match(text, pos + 1).end()  # type: ignore[union-attr]  # `*` always matches
        if text[i : i + 1] == quote:
            return text[pos + 1 : i], i + 1
        parts = [text[pos + 1 : i]]
        while True:
            c = text[i : i + 1]
            if c == quote:
                return "".join(parts), i + 1
            if c != "\\":
                raise self.unterminated(pos, i)
            char, i = self.escape(i, pos)
            parts.append(char)
            j = plain.match(text, i).end()  # type: ignore[union-attr]
            parts.append(text[i:j])
            i = j

    def escape(self, pos: int, string_start: int) -> tuple[str, int]:
        """Decode the escape sequence whose backslash is at pos."""
        text = self.text
        c = text[pos + 1 : pos + 2]
        if c in _ESCAPES:
            end = pos + 3 if text.startswith("\r\n", pos + 1) else pos + 2
            return _ESCAPES[c], end
        if c == "x" and _HEX2.match(text, pos + 2):
            return chr(int(text[pos + 2 : pos + 4], 16)), pos + 4
        if c == "u" and _HEX4.match(text, pos + 2):
            unit = int(text[pos + 2 : pos + 6], 16)
            # JSON5 strings are UTF-16: a \u pair of surrogates spells one character.
            low = _HEX4.match(text, pos + 8) if text.startswith("\\u", pos + 6) else None
            if 0xD800 <= unit < 0xDC00 and low and 0xDC00 <= int(low.group(), 16) < 0xE000:
                return chr(
                    0x10000 + ((unit - 0xD800) << 10) + int(low.group(), 16) - 0xDC00
                ), pos + 12
            return chr(unit), pos + 6
        if c == "":
            raise self.unterminated(string_start, pos + 1)
        if c in "xu123456789" or (c == "0" and text[pos + 2 : pos + 3] in _DIGITS):
            end = pos + 3 if c == "0" else pos + 2
            raise self.error(f'invalid escape "{text[pos:end]}"', pos, end)
        return ("\0" if c == "0" else c), pos + 2

    def unterminated(self, start: int, end: int) -> DiagnosticsError:
        detail = (
            "the file ends inside the string"
            if end >= len(self.text)
            else "a line break in a string is written \\n, or \\ at the end of the line"
        )
        return self.error("unterminated string", start, end, detail)

    def number(self, literal: str, pos: int) -> int | float:
        body = literal.lstrip("+-")
        if body == "Infinity":
            return -math.inf if literal[0] == "-" else math.inf
        if body == "NaN":
            return math.nan
        if body[:2] in ("0x", "0X"):
            return int(literal, 16)
        if "." in body or "e" in body or "E" in body:
            return float(literal)
        try:
            return int(literal)
        except ValueError:  # past sys.get_int_max_str_digits()
            raise self.error("integer has too many digits", pos, pos + len(literal)) from None

    def identifier(self, pos: int, expected: str) -> tuple[str, int]:
        """An ECMAScript 5.1 IdentifierName at pos (object keys); any other start is an error."""
        text = self.text
        m = _ASCII_NAME.match(text, pos)
        end = m.end() if m else pos
        nxt = text[end : end + 1]
        if m and not (nxt == "\\" or nxt > "\x7f"):
            return m.group(), end
        name: list[str] = []
        i = pos
        while i < len(text):
            char, width = text[i], 1
            if char == "\\":
                if not (text.startswith("u", i + 1) and _HEX4.match(text, i + 2)):
                    raise self.error("invalid escape in identifier", i, i + 2)
                char, width = chr(int(text[i + 2 : i + 6], 16)), 6
            if not (_id_start(char) if not name else _id_part(char)):
                if width == 6:
                    raise self.error("invalid escape in identifier", i, i + 6)
                break
            name.append(char)
            i += width
        if not name:
            raise self.unexpected(pos, expected)
        return "".join(name), i

    def check_word_end(self, pos: int) -> None:
        # `1x`, `0x`, `01` and `truex` are single tokens in ECMAScript, none of them valid here.
        c = self.text[pos : pos + 1]
        if c and (c == "\\" or c in _DIGITS or _id_part(c)):
            raise self.unexpected(pos, "a space, a comment or punctuation after the value")

    def skip(self, pos: int) -> int:
        pos = _SKIP.match(self.text, pos).end()  # type: ignore[union-attr]
        if self.text.startswith("/*", pos):
            raise self.error("unterminated comment", pos, len(self.text))
        return pos

    def unexpected(self, pos: int, expected: str) -> DiagnosticsError:
        detail = f"expected {expected}"
        if pos >= len(self.text):
            return self.error("unexpected end of input", pos, pos, detail)
        c = self.text[pos]
        # A double quote goes in single quotes: `"""` would read as a broken message.
        shown = f"'{c}'" if c == '"' else f'"{c}"' if c.isprintable() else f"U+{ord(c):04X}"
        return self.error(f"unexpected character {shown}", pos, pos + 1, detail)

    def error(self, problem: str, start: int, end: int, detail: str = "") -> DiagnosticsError:
        span = self.span(start, end)
        return DiagnosticsError(
            [*self.diags, Diagnostic.error(f"Invalid JSON5: {problem}", detail, span)]
        )

    def span(self, start: int, end: int) -> Span:
        starts = self.line_starts
        line = bisect_right(starts, start)
        end = min(end, len(self.text))
        # Most nodes end on the line they start on; skip the second search for those.
        end_line = line if line == len(starts) or end < starts[line] else bisect_right(starts, end)
        return Span(
            self.filename,
            line,
            start - starts[line - 1] + 1,
            end_line,
            end - starts[end_line - 1] + 1,
        )


def _id_start(c: str) -> bool:
    if c < "\x80":
        return c.isalpha() or c == "$" or c == "_"
    return unicodedata.category(c) in _ID_START


def _id_part(c: str) -> bool:
    if c < "\x80":
        return c.isalnum() or c == "$" or c == "_"
    return unicodedata.category(c) in _ID_PART or c == "\u200c" or c == "\u200d"
