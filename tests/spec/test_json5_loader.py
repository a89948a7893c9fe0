from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import json5
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from provision.errors import Diagnostic, DiagnosticsError, Span
from provision.spec import json5_loader
from provision.spec.json5_loader import load_json5
from provision.spec.source import Document, Path

F = "spec.json5"
PROPERTY = settings(max_examples=200, deadline=None)


def span(line: int, col: int, end_line: int, end_col: int) -> Span:
    return Span(F, line, col, end_line, end_col)


def load(text: str) -> Any:
    return load_json5(text, F).data


def errors(text: str) -> list[Diagnostic]:
    with pytest.raises(DiagnosticsError) as info:
        load_json5(text, F)
    return list(info.value.diagnostics)


def node_paths(value: Any, path: Path = ()) -> Iterator[Path]:
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from node_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from node_paths(v, (*path, i))


NESTED = """\
// provision spec
{
  name: 'web',
  "ports": [80, {host: 8080,},],
  env: {DEBUG: true, /* inline */ list: ["a", 'b c']},
}
"""


def test_nested_spans() -> None:
    doc = load_json5(NESTED, F)
    assert doc.files == (F,)
    assert doc.data == {
        "name": "web",
        "ports": [80, {"host": 8080}],
        "env": {"DEBUG": True, "list": ["a", "b c"]},
    }
    v, k = doc.source.values, doc.source.keys
    assert v[()] == span(2, 1, 6, 2)
    assert k[("name",)] == span(3, 3, 3, 7)
    assert v[("name",)] == span(3, 9, 3, 14)
    assert k[("ports",)] == span(4, 3, 4, 10)
    assert v[("ports",)] == span(4, 12, 4, 32)
    assert v[("ports", 0)] == span(4, 13, 4, 15)
    assert v[("ports", 1)] == span(4, 17, 4, 30)
    assert k[("ports", 1, "host")] == span(4, 18, 4, 22)
    assert v[("ports", 1, "host")] == span(4, 24, 4, 28)
    assert k[("env", "list")] == span(5, 35, 5, 39)
    assert v[("env", "list", 1)] == span(5, 47, 5, 52)
    assert set(v) == set(node_paths(doc.data))
    assert set(k) == {p for p in v if p and isinstance(p[-1], str)}


def test_columns_count_code_points_and_all_line_terminators() -> None:
    doc = load_json5('{"😀é": 1,\r\n b: 2,\u2028 c: 3,\r d: "x\u2028y"}', F)
    assert doc.source.values[("😀é",)] == span(1, 8, 1, 9)
    assert doc.source.keys[("b",)] == span(2, 2, 2, 3)
    assert doc.source.keys[("c",)] == span(3, 2, 3, 3)
    assert doc.source.keys[("d",)] == span(4, 2, 4, 3)
    assert doc.data["d"] == "x\u2028y"  # allowed raw inside strings


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0x1F", 31),
        ("-0XfF", -255),
        ("+1", 1),
        (".5", 0.5),
        ("5.", 5.0),
        ("-.5e-3", -0.0005),
        ("1e3", 1000.0),
        ("1.E+2", 100.0),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
        ("+Infinity", math.inf),
        ("-0", 0),
        ("null", None),
        ("true", True),
    ],
)
def test_numbers_and_literals(text: str, value: object) -> None:
    assert load(text) == value
    assert type(load(text)) is type(value)


def test_nan() -> None:
    assert math.isnan(load("NaN"))
    assert math.isnan(load("-NaN"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r"'\' \" \\ \b \f \n \r \t \v'", "' \" \\ \b \f \n \r \t \v"),
        (r'"\x41\u0042\0"', "AB\0"),
        (r'"\ud83d\ude00"', "😀"),  # a surrogate pair is one character
        (r'"\ud83d"', "\ud83d"),  # a lone surrogate stays, as in JSON
        (r'"\a\c\/\ "', "ac/ "),  # any other character escapes to itself
        ('"a\\\nb\\\r\nc\\\rd\\\u2028e\\\u2029f"', "abcdef"),  # line continuations
        ("'single \"double\" inside'", 'single "double" inside'),
        ('"tab\there"', "tab\there"),
    ],
)
def test_strings(text: str, value: str) -> None:
    assert load(text) == value


def test_identifier_keys() -> None:
    data = load(r"{$a: 1, _b: 2, ñandú: 3, \u0061bc: 4, a\u0062: 5, if: 6, null: 7, x̃1: 8, ǅ: 9}")
    assert data == {
        "$a": 1, "_b": 2, "ñandú": 3, "abc": 4, "ab": 5, "if": 6, "null": 7, "x̃1": 8, "ǅ": 9,
    }  # fmt: skip


def test_whitespace_is_exactly_the_json5_set() -> None:
    space_separators = {chr(c) for c in range(0x10000) if unicodedata.category(chr(c)) == "Zs"}
    json5_space = space_separators | set("\t\n\v\f\r\u2028\u2029\ufeff")
    pattern = re.compile(f"[{json5_loader._SPACE}]")
    assert {chr(c) for c in range(0x10000) if pattern.match(chr(c))} == json5_space
    assert load("".join(sorted(json5_space)) + "1" + "".join(sorted(json5_space))) == 1
    for c in "\x1c\x85\u180e\u200b":
        assert errors(f"{c}1")[0].summary.startswith("Invalid JSON5: unexpected character")


def test_every_duplicate_key_is_reported() -> None:
    diags = errors("{name: 1, sub: {x: 1, \"x\": 2}, 'name': 2,\n name: 3}")
    assert [(d.summary, d.detail, d.span) for d in diags] == [
        ('Duplicate key "x"', f"first defined at {F}:1:17", span(1, 23, 1, 26)),
        ('Duplicate key "name"', f"first defined at {F}:1:2", span(1, 32, 1, 38)),
        ('Duplicate key "name"', f"first defined at {F}:1:2", span(2, 2, 2, 6)),
    ]


def test_unexpected_character_says_what_was_expected() -> None:
    (diag,) = errors('{version: 1 "x": 2}')
    assert diag.summary == "Invalid JSON5: unexpected character '\"'"
    assert diag.detail == "expected , or } after the value"
    assert diag.span == span(1, 13, 1, 14)


def test_duplicates_are_kept_when_a_syntax_error_follows() -> None:
    diags = errors("{a: 1, a: 2, b: }")
    assert [d.summary for d in diags] == [
        'Duplicate key "a"',
        'Invalid JSON5: unexpected character "}"',
    ]


@pytest.mark.parametrize(
    ("text", "summary", "where"),
    [
        ("{a: 1}}", 'Invalid JSON5: unexpected character "}"', span(1, 7, 1, 8)),
        ("[1 2]", 'Invalid JSON5: unexpected character "2"', span(1, 4, 1, 5)),
        ("[,]", 'Invalid JSON5: unexpected character ","', span(1, 2, 1, 3)),
        ("{a 1}", 'Invalid JSON5: unexpected character "1"', span(1, 4, 1, 5)),
        ("{1: 2}", 'Invalid JSON5: unexpected character "1"', span(1, 2, 1, 3)),
        ("", "Invalid JSON5: unexpected end of input", span(1, 1, 1, 1)),
        ("[1,\n", "Invalid JSON5: unexpected end of input", span(2, 1, 2, 1)),
        ("{a: 'x\n'}", "Invalid JSON5: unterminated string", span(1, 5, 1, 7)),
        ('"abc', "Invalid JSON5: unterminated string", span(1, 1, 1, 5)),
        ("1 /* open", "Invalid JSON5: unterminated comment", span(1, 3, 1, 10)),
        ("[\n  yes]", 'Invalid JSON5: unexpected identifier "yes"', span(2, 3, 2, 6)),
        ("01", 'Invalid JSON5: unexpected character "1"', span(1, 2, 1, 3)),
        ("0x", 'Invalid JSON5: unexpected character "x"', span(1, 2, 1, 3)),
        ("1.5e", 'Invalid JSON5: unexpected character "e"', span(1, 4, 1, 5)),
        ("truex", 'Invalid JSON5: unexpected identifier "truex"', span(1, 1, 1, 6)),
        ("true1", 'Invalid JSON5: unexpected identifier "true1"', span(1, 1, 1, 6)),
        ("trueé", 'Invalid JSON5: unexpected character "é"', span(1, 5, 1, 6)),
        ("-", "Invalid JSON5: unexpected end of input", span(1, 2, 1, 2)),
        (r'"\1"', r'Invalid JSON5: invalid escape "\1"', span(1, 2, 1, 4)),
        (r'"\01"', r'Invalid JSON5: invalid escape "\01"', span(1, 2, 1, 5)),
        (r'"\x4g"', r'Invalid JSON5: invalid escape "\x"', span(1, 2, 1, 4)),
        (r'"\u12"', r'Invalid JSON5: invalid escape "\u"', span(1, 2, 1, 4)),
        (r"{\u0030: 1}", "Invalid JSON5: invalid escape in identifier", span(1, 2, 1, 8)),
        ("1" * 5000, "Invalid JSON5: integer has too many digits", span(1, 1, 1, 5001)),
        ("[\x00]", "Invalid JSON5: unexpected character U+0000", span(1, 2, 1, 3)),
    ],
)
def test_errors_are_positioned(text: str, summary: str, where: Span) -> None:
    (diag,) = errors(text)
    assert (diag.summary, diag.span) == (summary, where)


@pytest.mark.parametrize("text", ["[" * 100_000, "[" * 50_000 + "]" * 50_000, '{"a":' * 50_000])
def test_deep_nesting_is_a_diagnostic_not_a_recursion_error(text: str) -> None:
    (diag,) = errors(text)
    assert diag.summary == "Invalid JSON5: nesting deeper than 256 levels"


# Small values: the json5 package is a slow pure-Python parser and the files must run in seconds.
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


@PROPERTY
@given(value=json_values, indent=st.sampled_from([None, 0, 2, "\t"]))
@example(value="\x000", indent=None)  # NUL then a digit: json5 writes an escape JSON5 forbids
def test_json_and_json5_dumps_load_like_the_reference(value: Any, indent: int | str | None) -> None:
    for text in (
        json5.dumps(value, ensure_ascii=False, indent=indent),
        json.dumps(value, ensure_ascii=False, indent=indent),
    ):
        try:
            json5.loads(text)
        except ValueError:
            # json5 0.17 writes NUL before a digit as "\00", which JSON5 forbids (\0 must not
            # be followed by a digit) and its own loads rejects: both parsers refuse it.
            with pytest.raises(DiagnosticsError, match=r'invalid escape "\\0'):
                load_json5(text, F)
            continue
        doc = load_json5(text, F)
        assert doc.data == value
        assert doc.data == json5.loads(text)
        assert set(doc.source.values) == set(node_paths(value))
    # With ensure_ascii, characters outside the BMP become \\u surrogate pairs. The json5 package
    # returns the two surrogates unjoined; JSON5 strings are UTF-16, so we join them as json does.
    text = json.dumps(value, indent=indent)
    assert load(text) == value == json.loads(text)


IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
GAPS = ["", " ", "\n", "\t", "// note\n", "/* c */", "\u2028", "\ufeff", "\xa0", "\r\n"]


@st.composite
def json5_text(draw: st.DrawFn, value: Any) -> str:
    """`value` written with JSON5's extras, chosen at random at every node."""

    def gap() -> str:
        return draw(st.sampled_from(GAPS))

    def string(s: str) -> str:
        quote = draw(st.sampled_from(["'", '"']))
        out = []
        for c in s:
            form = draw(st.sampled_from(["raw", "u", "x", "continuation"]))
            if c in (quote, "\\", "\n", "\r") or form == "u":
                out.append("".join(f"\\u{unit:04x}" for unit in utf16(c)))
            elif form == "x" and ord(c) < 256:
                out.append(f"\\x{ord(c):02x}")
            else:
                out.append(("\\\n" if form == "continuation" else "") + c)
        return quote + "".join(out) + quote

    def number(n: int | float) -> str:
        if isinstance(n, float):
            if math.isinf(n):
                return ("-" if n < 0 else draw(st.sampled_from(["", "+"]))) + "Infinity"
            text = repr(n)
            if text.startswith(("0.", "-0.")) and draw(st.booleans()):
                text = text.replace("0.", ".", 1)
            return text
        if draw(st.booleans()):
            return ("-" if n < 0 else "") + hex(abs(n))
        return ("+" if n >= 0 and draw(st.booleans()) else "") + str(n)

    def render(v: Any) -> str:
        if isinstance(v, dict):
            items = [
                f"{gap()}{k if IDENTIFIER.fullmatch(k) and draw(st.booleans()) else string(k)}"
                f"{gap()}:{gap()}{render(x)}{gap()}"
                for k, x in v.items()
            ]
            trailing = "," if draw(st.booleans()) and items else ""
            return "{" + ",".join(items) + trailing + gap() + "}"
        if isinstance(v, list):
            items = [f"{gap()}{render(x)}{gap()}" for x in v]
            trailing = "," if draw(st.booleans()) and items else ""
            return "[" + ",".join(items) + trailing + gap() + "]"
        if isinstance(v, str):
            return string(v)
        if v is None or isinstance(v, bool):
            return json.dumps(v)
        return number(v)

    return gap() + render(value) + gap()


def utf16(c: str) -> list[int]:
    data = c.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


@PROPERTY
@given(data=st.data(), value=json_values)
def test_json5_features_round_trip(data: st.DataObject, value: Any) -> None:
    text = data.draw(json5_text(value))
    doc = load_json5(text, F)
    assert doc.data == value
    assert set(doc.source.values) == set(node_paths(value))
    for s in [*doc.source.values.values(), *doc.source.keys.values()]:
        assert (1, 1) <= (s.line, s.column) <= (s.end_line, s.end_column)


JSON5_PIECES = [*"{}[]:,'\"\\/*\n .+-xeE0aIN", "//", "/*", "*/", "\u2028", "\\u", "true"]


@st.composite
def mutated_json5(draw: st.DrawFn) -> str:
    text = draw(json5_text(draw(json_values)))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 3)))
        piece = draw(st.sampled_from(["", *JSON5_PIECES]) | st.text(max_size=2))
        text = text[:i] + piece + text[j:]
    return text


def outcome(text: str) -> Document | None:
    """The loaded document, or None when the text was rejected with proper diagnostics."""
    try:
        return load_json5(text, F)
    except DiagnosticsError as exc:
        assert exc.diagnostics
        for diag in exc.diagnostics:
            assert diag.is_error
            assert diag.span is not None
            assert diag.span.line >= 1
            assert diag.span.column >= 1
        return None


@PROPERTY
@given(text=st.text())
def test_any_text_loads_or_raises_diagnostics(text: str) -> None:
    outcome(text)


@PROPERTY
@given(text=mutated_json5())
def test_mutations_accepted_and_rejected_like_the_json5_package(text: str) -> None:
    doc = outcome(text)
    try:
        # Duplicate keys: the package keeps the last one unless told otherwise; we always reject.
        reference = json5.loads(text, allow_duplicate_keys=False)
    except Exception:
        reference_ok = False
    else:
        reference_ok = True
    # Known, deliberate disagreements, none of which these mutations produce: an identifier
    # escape for a character that may not appear there (`{\u0030: 1}`) is rejected here, as
    # ECMAScript says, and accepted by the package; nesting past 256 levels is our limit.
    assert (doc is not None) == reference_ok, text
    if doc is not None and "\\u" not in text.lower():
        assert json.dumps(doc.data, sort_keys=True) == json.dumps(reference, sort_keys=True)
