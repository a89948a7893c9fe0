"""provision.spec.jsonschema: exact messages and positions, one small schema at a time."""

from __future__ import annotations

import copy
import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from provision.errors import Diagnostic, Span
from provision.secrets import Secret
from provision.spec.jsonschema import check_schema, validate
from provision.spec.source import Path, SourceMap

Row = tuple[int, int, str, str]  # line, column, summary, detail


def load(text: str, filename: str = "spec.yaml") -> tuple[Any, SourceMap]:
    """YAML → (data, SourceMap) through yaml.compose; the project's loader is not needed here."""
    source = SourceMap()

    def span(node: yaml.Node) -> Span:
        start, end = node.start_mark, node.end_mark
        return Span(filename, start.line + 1, start.column + 1, end.line + 1, end.column + 1)

    def walk(node: yaml.Node, path: Path) -> Any:
        source.values[path] = span(node)
        if isinstance(node, yaml.MappingNode):
            out = {}
            for key_node, value_node in node.value:
                key = yaml.safe_load(yaml.serialize(key_node))
                source.keys[(*path, key)] = span(key_node)
                out[key] = walk(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [walk(item, (*path, i)) for i, item in enumerate(node.value)]
        return yaml.safe_load(yaml.serialize(node))

    return walk(yaml.compose(textwrap.dedent(text)), ()), source


def check(schema: dict[str, Any], text: str, *, resolved: bool = False) -> list[Row]:
    data, source = load(text)
    return rows(validate(data, source, schema, resolved=resolved))


def rows(diagnostics: list[Diagnostic]) -> list[Row]:
    out = []
    for d in diagnostics:
        assert d.is_error
        assert d.span is not None
        out.append((d.span.line, d.span.column, d.summary, d.detail))
    return out


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False}


INTERP = {"$ref": "#/$defs/interpolation"}
DEFS = {"interpolation": {"type": "string", "pattern": r"^\$\{[^}]+\}$"}}
BOOL_OR_INTERP = {"anyOf": [{"type": "boolean"}, INTERP]}

# The shape of the project's targets: a `type` discriminator, one if/then per type, and
# unevaluatedProperties: false so that each type's own keys are the only extra ones allowed.
TARGET = {
    "type": "object",
    "properties": {
        "type": {"enum": ["mux", "shell", "tf"]},
        "path": {"type": "string"},
    },
    "required": ["type"],
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "mux"}}, "required": ["type"]},
            "then": {"properties": {"secrets": {"enum": ["inline", "file"]}}},
        },
        {
            "if": {"properties": {"type": {"const": "shell"}}, "required": ["type"]},
            "then": {"properties": {"dialect": {"type": "string"}, "env": {"type": "object"}}},
        },
        {
            "if": {"properties": {"type": {"const": "tf"}}, "required": ["type"]},
            "then": {"properties": {"style": {"type": "string"}, "env": {"type": "object"}}},
        },
    ],
    "unevaluatedProperties": False,
}
TARGETS = {"type": "object", "additionalProperties": TARGET}

TREE = {
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            },
            "required": ["name"],
            "additionalProperties": False,
        }
    },
    "$ref": "#/$defs/node",
}

CASES: list[tuple[str, dict[str, Any], str, list[Row]]] = [
    # type
    ("type-ok", obj(a={"type": "string"}), "a: x", []),
    ("type-list", obj(a={"type": "string"}), "a: [1]",
     [(1, 4, "Expected a string for a, got a list", "")]),
    ("type-mapping", obj(a={"type": "array"}), "a: {b: 1}",
     [(1, 4, "Expected a list for a, got a mapping", "")]),
    ("type-several", obj(a={"type": ["string", "array", "object"]}), "a: null",
     [(1, 4, "Expected a string, a list or a mapping for a, got null", "")]),
    ("type-number-hint", obj(a={"type": ["string", "null"]}), "a: 8080",
     [(1, 4, "Expected a string or null for a, got 8080", "Quote the value to make it a string.")]),
    ("type-bool-hint", obj(a={"type": "string"}), "a: yes",
     [(1, 4, "Expected a string for a, got true", "Quote the value to make it a string.")]),
    ("type-quoted-bool", obj(a={"type": "boolean"}), 'a: "true"',
     [(1, 4, "Expected true or false for a, got a string",
       "Remove the quotes: a quoted value is always a string.")]),
    ("type-quoted-int", obj(a={"type": "number"}), 'a: "12"',
     [(1, 4, "Expected a number for a, got a string",
       "Remove the quotes: a quoted value is always a string.")]),
    ("type-null", obj(a={"type": "null"}), "a: 0", [(1, 4, "Expected null for a, got 0", "")]),
    ("type-top-level", {"type": "object"}, "[1]",
     [(1, 1, "Expected a mapping at the top level, got a list", "")]),
    # bool is not a number, 2.0 is not an integer, an int is a number
    ("bool-not-integer", obj(n={"type": "integer"}), "n: true",
     [(1, 4, "Expected an integer for n, got true", "")]),
    ("bool-not-number", obj(n={"type": "number"}), "n: false",
     [(1, 4, "Expected a number for n, got false", "")]),
    ("float-not-integer", obj(n={"type": "integer"}), "n: 2.0",
     [(1, 4, "Expected an integer for n, got 2.0", "Write 2 without a decimal point.")]),
    ("fraction-not-integer", obj(n={"type": "integer"}), "n: 2.5",
     [(1, 4, "Expected an integer for n, got 2.5", "")]),
    ("int-is-number", obj(n={"type": "number"}), "n: 2", []),
    ("number-and-integer", obj(n={"type": ["integer", "number"]}), "n: x",
     [(1, 4, "Expected a number for n, got a string", "")]),
    # properties, additionalProperties, patternProperties
    ("unknown-key-close", obj(providers={}, description={}), "provdiers: {}",
     [(1, 1, 'Unknown key "provdiers" at the top level', 'Did you mean "providers"?')]),
    ("unknown-key-listed", {"properties": {"a": {"type": "object", **obj(zeta={}, alpha={})}}},
     "a:\n  nothing: 1",
     [(2, 3, 'Unknown key "nothing" in a', "Allowed keys: alpha, zeta.")]),
    ("no-keys-allowed", obj(), "x: 1",
     [(1, 1, 'Unknown key "x" at the top level', "No keys are allowed here.")]),
    ("additional-schema", {"additionalProperties": {"type": "integer"}}, "a: 1\nb: x",
     [(2, 4, "Expected an integer for b, got a string", "")]),
    ("pattern-properties",
     {"properties": {"name": {}}, "patternProperties": {"^x-": {"type": "string"}},
      "additionalProperties": False},
     "name: 1\nx-a: 2\nother: 3",
     [(2, 6, "Expected a string for x-a, got 2", "Quote the value to make it a string."),
      (3, 1, 'Unknown key "other" at the top level',
       "Allowed keys: name; also keys matching ^x-.")]),
    ("pattern-properties-only", {"patternProperties": {"^[a-z]+$": {"type": "integer"}},
                                 "additionalProperties": {"type": "string"}},
     "ab: 1\nAB: 2",
     [(2, 5, "Expected a string for AB, got 2", "Quote the value to make it a string.")]),
    ("false-property", {"properties": {"legacy": False}}, "legacy: 1",
     [(1, 1, 'Key "legacy" is not allowed at the top level', "")]),
    # propertyNames
    ("property-names-pattern", {"propertyNames": {"pattern": "^[a-z]+$"}}, "ok: 1\nBad Key: 2",
     [(2, 1, 'Invalid key "Bad Key" at the top level: does not match ^[a-z]+$', "")]),
    ("property-names-message",
     {"properties": {"vars": {"propertyNames": {"pattern": "^[a-z]+$",
                                                "x-message": "Invalid variable name"}}}},
     "vars:\n  good: 1\n  B-A-D: 2",
     [(3, 3, "Invalid variable name",
       'Invalid key "B-A-D" in vars: does not match ^[a-z]+$.')]),
    ("property-names-min-length", {"propertyNames": {"minLength": 1}}, '"": 1',
     [(1, 1, 'Invalid key "" at the top level: must not be empty', "")]),
    ("property-names-lengths", {"propertyNames": {"minLength": 2, "maxLength": 3}}, "a: 1\nabcd: 2",
     [(1, 1, 'Invalid key "a" at the top level: must be at least 2 characters long', ""),
      (2, 1, 'Invalid key "abcd" at the top level: must be at most 3 characters long', "")]),
    # required
    ("required", {"properties": {"t": {"required": ["type", "name"]}}}, "t:\n  name: x",
     [(2, 3, 'Missing required key "type" in t', "")]),
    ("required-all-missing", {"required": ["b", "a"]}, "{}",
     [(1, 1, 'Missing required key "a" at the top level', ""),
      (1, 1, 'Missing required key "b" at the top level', "")]),
    ("required-not-a-mapping", {"required": ["a"]}, "[]", []),
    # enum, const
    ("enum-close", obj(secrets={"enum": ["inline", "file", "env"]}), "secrets: fiel",
     [(1, 10, 'Invalid value "fiel" for secrets',
       'Expected one of: "inline", "file", "env".\nDid you mean "file"?')]),
    ("enum-far", obj(secrets={"enum": ["inline", "file", "env"]}), "secrets: maybe",
     [(1, 10, 'Invalid value "maybe" for secrets', 'Expected one of: "inline", "file", "env".')]),
    ("enum-mixed", obj(a={"enum": [1, None, True]}), "a: 1.0\nb: 1", [
        (2, 1, 'Unknown key "b" at the top level', "Allowed keys: a.")]),
    ("enum-bool-is-not-1", obj(a={"enum": [1, 2]}), "a: true",
     [(1, 4, "Invalid value true for a", "Expected one of: 1, 2.")]),
    ("enum-container", obj(a={"enum": [[1, 2]]}), "a: [1, 3]",
     [(1, 4, "Invalid value for a", "Expected [1, 2].")]),
    ("const", obj(version={"const": 1}), "version: 2",
     [(1, 10, "Invalid value 2 for version", "Expected 1.")]),
    ("const-json-equality", obj(version={"const": 1}), "version: 1.0", []),
    ("const-string", obj(kind={"const": "mux"}), "kind: mx",
     [(1, 7, 'Invalid value "mx" for kind', 'Expected "mux".\nDid you mean "mux"?')]),
    # pattern and x-message
    ("pattern", obj(id={"type": "string", "pattern": "^[a-z]+$"}), "id: Bad ID",
     [(1, 5, 'Invalid value "Bad ID" for id: does not match ^[a-z]+$', "")]),
    ("pattern-is-search", obj(id={"pattern": "b"}), "id: abc", []),
    ("pattern-ignores-non-strings", obj(id={"pattern": "^x$"}), "id: 3", []),
    ("x-message-pattern", obj(id={"pattern": "^[a-z]+$", "x-message": "Bad {path}, use a-z"}),
     "id: Nope",
     [(1, 5, "Bad id, use a-z", 'Invalid value "Nope" for id: does not match ^[a-z]+$.')]),
    ("x-message-type", obj(id={"type": "string", "x-message": "An ID is text"}), "id: 5",
     [(1, 5, "An ID is text",
       "Expected a string for id, got 5.\nQuote the value to make it a string.")]),
    ("x-message-enum", obj(m={"enum": ["a"], "x-message": "Pick a"}), "m: b",
     [(1, 4, "Pick a", 'Invalid value "b" for m.\nExpected "a".')]),
    ("x-message-not-for-lengths", obj(m={"minLength": 2, "x-message": "Nope"}), "m: b",
     [(1, 4, 'Invalid value "b" for m: must be at least 2 characters long', "")]),
    # lengths, numbers, sizes
    ("min-length-1", obj(s={"minLength": 1}), 's: ""',
     [(1, 4, 'Invalid value "" for s: must not be empty', "")]),
    ("max-length", obj(s={"maxLength": 3}), "s: abcd",
     [(1, 4, 'Invalid value "abcd" for s: must be at most 3 characters long', "")]),
    ("max-length-1", obj(s={"maxLength": 1}), "s: ab",
     [(1, 4, 'Invalid value "ab" for s: must be at most 1 character long', "")]),
    ("length-counts-code-points", obj(s={"maxLength": 1}), "s: é", []),
    ("long-value-truncated", obj(s={"maxLength": 3}), "s: " + "x" * 70,
     [(1, 4, f'Invalid value "{"x" * 57}…" for s: must be at most 3 characters long', "")]),
    ("minimum", obj(n={"minimum": 0}), "n: -1",
     [(1, 4, "Invalid value -1 for n: must be at least 0", "")]),
    ("maximum", obj(n={"maximum": 2}), "n: 2.5",
     [(1, 4, "Invalid value 2.5 for n: must be at most 2", "")]),
    ("exclusive-minimum", obj(n={"exclusiveMinimum": 0}), "n: 0",
     [(1, 4, "Invalid value 0 for n: must be greater than 0", "")]),
    ("exclusive-maximum", obj(n={"exclusiveMaximum": 1.5}), "n: 1.5",
     [(1, 4, "Invalid value 1.5 for n: must be less than 1.5", "")]),
    ("bounds-ok", obj(n={"minimum": 0, "maximum": 2}), "n: 2", []),
    ("bounds-ignore-bools", obj(n={"minimum": 5}), "n: true", []),
    ("nan-fails-bounds", obj(n={"minimum": 0}), "n: .nan",
     [(1, 4, "Invalid value nan for n: must be at least 0", "")]),
    ("min-items", obj(l={"minItems": 1}), "l: []",
     [(1, 4, "Too few items in l: expected at least 1, got 0", "")]),
    ("max-items", obj(l={"maxItems": 2}), "l: [1, 2, 3]",
     [(1, 4, "Too many items in l: expected at most 2, got 3", "")]),
    ("min-properties", obj(m={"minProperties": 1}), "m: {}",
     [(1, 4, "Too few keys in m: expected at least 1, got 0", "")]),
    ("unique-items", obj(l={"uniqueItems": True}), "l: [a, b, a, 1, 1.0, true, {x: 1}, {x: 1}]",
     [(1, 11, 'Duplicate item "a" in l', "It already appears at l[0]."),
      (1, 17, "Duplicate item 1.0 in l", "It already appears at l[3]."),
      (1, 36, "Duplicate item in l", "It already appears at l[6].")]),
    ("unique-items-false", obj(l={"uniqueItems": False}), "l: [a, a]", []),
    # items
    ("items", obj(l={"type": "array", "items": {"type": "integer"}}), "l: [1, x, 3, y]",
     [(1, 8, "Expected an integer for l[1], got a string", ""),
      (1, 14, "Expected an integer for l[3], got a string", "")]),
    # anyOf / oneOf
    ("any-of-one-branch-fits",
     obj(m={"anyOf": [{"type": "string"}, obj(id={"type": "string"})]}), "m: {id: 3}",
     [(1, 9, "Expected a string for m.id, got 3", "Quote the value to make it a string.")]),
    ("any-of-no-branch-fits", obj(m={"anyOf": [{"type": "string"}, {"type": "object"}]}),
     "m: [1]", [(1, 4, "Expected a string or a mapping for m, got a list", "")]),
    ("any-of-ok", obj(m={"anyOf": [{"type": "string"}, {"type": "object"}]}), "m: {}", []),
    ("any-of-deepest-branch",
     obj(m={"anyOf": [
         {"type": "object", "required": ["path"], "properties": {"path": {}},
          "additionalProperties": False},
         {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}},
          "additionalProperties": False},
     ]}),
     "m: {url: 3}",
     [(1, 10, "Expected a string for m.url, got 3", "Quote the value to make it a string.")]),
    ("any-of-x-message", obj(m={"anyOf": [{"type": "string"}, {"type": "object"}],
                                "x-message": "Give a name or a table"}),
     "m: 1",
     [(1, 4, "Give a name or a table",
       "Expected a string or a mapping for m, got 1.\nQuote the value to make it a string.")]),
    ("bool-or-interp-ok", {"$defs": DEFS, **obj(b=BOOL_OR_INTERP)}, "b: ${var.x}", []),
    ("bool-or-interp-bad", {"$defs": DEFS, **obj(b=BOOL_OR_INTERP)}, "b: maybe",
     [(1, 4, "Expected true or false for b, got a string", "")]),
    ("bool-or-interp-number", {"$defs": DEFS, **obj(b=BOOL_OR_INTERP)}, "b: 1",
     [(1, 4, "Expected true or false for b, got 1", "")]),
    ("botched-interpolation", {"$defs": DEFS, **obj(b=BOOL_OR_INTERP)}, 'b: "${var.x"',
     [(1, 4, 'Invalid value "${var.x" for b: does not match ^\\$\\{[^}]+\\}$', "")]),
    ("enum-or-interp", {"$defs": DEFS, **obj(e={"anyOf": [{"enum": ["GET", "POST"]}, INTERP]})},
     "e: get",
     [(1, 4, 'Invalid value "get" for e', 'Expected one of: "GET", "POST".')]),
    ("one-of-overlap-is-fine", obj(s={"oneOf": [{"type": "string"}, {"minLength": 1}]}), "s: x",
     []),
    ("one-of-fails-like-any-of", obj(s={"oneOf": [{"type": "string"}, {"type": "integer"}]}),
     "s: []", [(1, 4, "Expected a string or an integer for s, got a list", "")]),
    # allOf, if/then/else
    ("all-of", obj(s={"allOf": [{"minLength": 3}, {"pattern": "^a"}]}), "s: b",
     [(1, 4, 'Invalid value "b" for s: does not match ^a', ""),
      (1, 4, 'Invalid value "b" for s: must be at least 3 characters long', "")]),
    ("all-of-duplicates-once", {"allOf": [{"required": ["a"]}, {"required": ["a"]}]}, "{}",
     [(1, 1, 'Missing required key "a" at the top level', "")]),
    ("if-then", {"if": {"properties": {"k": {"const": "a"}}}, "then": {"required": ["x"]},
                 "else": {"required": ["y"]}}, "k: a",
     [(1, 1, 'Missing required key "x" at the top level', "")]),
    ("if-else", {"if": {"properties": {"k": {"const": "a"}}}, "then": {"required": ["x"]},
                 "else": {"required": ["y"]}}, "k: b",
     [(1, 1, 'Missing required key "y" at the top level', "")]),
    # unevaluatedProperties with a discriminator
    ("variant-ok", TARGETS, "t: {type: mux, secrets: file, path: p}", []),
    ("variant-typo", TARGETS, "t: {type: mux, secrest: file}",
     [(1, 16, 'Unknown key "secrest" in t', 'Did you mean "secrets"?')]),
    ("variant-unknown-listed", TARGETS, "t: {type: shell, zzz: 1}",
     [(1, 18, 'Unknown key "zzz" in t', "Allowed keys: dialect, env, path, type.")]),
    ("variant-other-type-key", TARGETS, "t: {type: mux, style: x}",
     [(1, 16, 'Key "style" is not allowed in t',
       'It is only allowed when type is "tf".\nAllowed keys: path, secrets, type.')]),
    ("variant-key-of-two-types", TARGETS, "t: {type: mux, env: {}}",
     [(1, 16, 'Key "env" is not allowed in t',
       'It is only allowed when type is "shell" or "tf".\nAllowed keys: path, secrets, type.')]),
    ("variant-branch-value-checked", TARGETS, "t: {type: mux, secrets: env}",
     [(1, 25, 'Invalid value "env" for t.secrets', 'Expected one of: "inline", "file".')]),
    ("variant-bad-discriminator", TARGETS, "t: {type: mx, secrets: file, zzz: 1}",
     [(1, 11, 'Invalid value "mx" for t.type',
       'Expected one of: "mux", "shell", "tf".\nDid you mean "mux"?'),
      (1, 30, 'Unknown key "zzz" in t', "Allowed keys: path, type.")]),
    ("variant-missing-discriminator", TARGETS, "t: {secrets: file}",
     [(1, 4, 'Missing required key "type" in t', "")]),
    ("variant-without-discriminator-error", {
        "if": {"properties": {"k": {"const": "a"}}, "required": ["k"]},
        "then": {"properties": {"x": {}}}, "unevaluatedProperties": False}, "x: 1",
     [(1, 1, 'Key "x" is not allowed at the top level',
       'It is only allowed when k is "a".\nNo keys are allowed here.')]),
    ("unevaluated-schema", {"properties": {"a": {}}, "unevaluatedProperties": {"type": "string"}},
     "a: 1\nb: 2",
     [(2, 4, "Expected a string for b, got 2", "Quote the value to make it a string.")]),
    ("unevaluated-sees-any-of",
     {"anyOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "string"}}, "required": ["b"]}],
      "unevaluatedProperties": False},
     "a: x\nbb: 1", [(2, 1, 'Unknown key "bb" at the top level', "Allowed keys: a.")]),
    # $ref, recursive
    ("recursive-ref", TREE,
     "name: root\nchildren:\n  - name: a\n    children: [{name: ''}, {nme: b}]",
     [(4, 23, 'Invalid value "" for children[0].children[0].name: must not be empty', ""),
      (4, 28, 'Missing required key "name" in children[0].children[1]', ""),
      (4, 29, 'Unknown key "nme" in children[0].children[1]', 'Did you mean "name"?')]),
    ("ref-with-siblings", {"$defs": {"s": {"type": "string"}}, **obj(a={"$ref": "#/$defs/s",
                                                                       "minLength": 2})},
     "a: x", [(1, 4, 'Invalid value "x" for a: must be at least 2 characters long', "")]),
    ("escaped-pointer", {"$defs": {"a/b": {"type": "integer"}}, **obj(n={"$ref": "#/$defs/a~1b"})},
     "n: x", [(1, 4, "Expected an integer for n, got a string", "")]),
    ("true-schema", obj(a=True), "a: [anything]", []),
    ("annotations-ignored", {"title": "t", "description": "d", "markdownDescription": "m",
                             "default": 1, "examples": [], "deprecated": False, "$comment": "c",
                             "$schema": "s", "$id": "i"}, "a: 1", []),
]  # fmt: skip


@pytest.mark.parametrize(("schema", "text", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_case(schema: dict[str, Any], text: str, expected: list[Row]) -> None:
    assert check(schema, text) == expected


def test_many_errors_reported_at_once_and_sorted() -> None:
    schema = {
        "type": "object",
        "properties": {
            "version": {"const": 1},
            "name": {"type": "string", "pattern": "^[a-z]+$"},
            "port": {"type": "integer", "minimum": 1},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["version", "name", "owner"],
        "additionalProperties": False,
    }
    text = """\
    version: 2
    name: Bad
    port: 0
    tags: [a, 1, b, [c]]
    prot: 1
    """
    assert check(schema, text) == [
        (1, 1, 'Missing required key "owner" at the top level', ""),
        (1, 10, "Invalid value 2 for version", "Expected 1."),
        (2, 7, 'Invalid value "Bad" for name: does not match ^[a-z]+$', ""),
        (3, 7, "Invalid value 0 for port: must be at least 1", ""),
        (4, 11, "Expected a string for tags[1], got 1", "Quote the value to make it a string."),
        (4, 17, "Expected a string for tags[3], got a list", ""),
        (5, 1, 'Unknown key "prot" at the top level', 'Did you mean "port"?'),
    ]


def test_sorted_by_file_then_position_and_spanless_first() -> None:
    source = SourceMap()
    source.values[("a",)] = Span("b.yaml", 1, 1, 1, 2)
    source.values[("b",)] = Span("a.yaml", 9, 1, 9, 2)
    source.values[("c",)] = Span("a.yaml", 2, 5, 2, 6)
    schema = {"additionalProperties": {"type": "string"}}
    diags = validate({"a": 1, "b": 2, "c": 3, "d": 4}, source, schema)
    assert [(str(d.span), d.summary) for d in diags] == [
        ("None", "Expected a string for d, got 4"),
        ("a.yaml:2:5", "Expected a string for c, got 3"),
        ("a.yaml:9:1", "Expected a string for b, got 2"),
        ("b.yaml:1:1", "Expected a string for a, got 1"),
    ]


def test_unknown_key_points_at_the_key_missing_key_at_the_mapping() -> None:
    text = """\
    outer:
      inner:
        typo: 1
    """
    schema = obj(outer=obj(inner={**obj(type={}), "required": ["type"]}))
    assert check(schema, text) == [
        (3, 5, 'Missing required key "type" in outer.inner', ""),
        (3, 5, 'Unknown key "typo" in outer.inner', 'Did you mean "type"?'),
    ]
    data, source = load(text)
    spans = {d.summary: d.span for d in validate(data, source, schema)}
    assert spans['Unknown key "typo" in outer.inner'] == Span("spec.yaml", 3, 5, 3, 9)
    assert spans['Missing required key "type" in outer.inner'] == Span("spec.yaml", 3, 5, 4, 1)


# resolved=True: secrets and interpolation


class Exploding(Exception):
    pass


@pytest.fixture
def untouchable_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any look at a secret's value fail the test."""

    def explode(*args: object) -> Any:
        raise Exploding

    for name in ("reveal", "__len__", "__eq__", "__hash__", "fingerprint"):
        monkeypatch.setattr(Secret, name, explode)


@pytest.mark.usefixtures("untouchable_secrets")
def test_secret_is_a_string_and_never_inspected() -> None:
    schema = obj(
        token={"type": "string", "pattern": "^x$", "minLength": 50, "maxLength": 1,
               "enum": ["nope"]},
        other={"type": ["string", "null"], "const": "x"},
        keys={"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        secret={"anyOf": [{"type": "string"}, {"type": "object"}]},
    )  # fmt: skip
    token = Secret("value-1")
    data = {
        "token": token,
        "other": Secret("y"),
        "keys": [Secret("value-1"), Secret("value-1")],  # equal values, never compared
        "secret": Secret("z"),
    }
    assert validate(data, SourceMap(), schema, resolved=True) == []
    # The very same object twice is a duplicate, found by identity alone.
    data["keys"] = [token, token]
    diags = validate(data, SourceMap(), schema, resolved=True)
    assert [(d.summary, d.detail) for d in diags] == [
        ("Duplicate item in keys", "It already appears at keys[0]."),
    ]


def test_secret_where_a_mapping_is_expected_shows_no_value() -> None:
    diags = validate(
        {"m": Secret("hunter22")}, SourceMap(), obj(m={"type": "object"}), resolved=True
    )
    assert [(d.summary, d.detail) for d in diags] == [
        ("Expected a mapping for m, got a string", "")
    ]
    assert "hunter22" not in repr(diags)


def test_secret_in_an_enum_list_container_is_not_shown() -> None:
    schema = obj(l={"enum": [["a"]]})
    diags = validate({"l": [Secret("hunter22")]}, SourceMap(), schema, resolved=True)
    assert [(d.summary, d.detail) for d in diags] == [("Invalid value for l", 'Expected ["a"].')]


def test_interpolation_never_matches_once_resolved() -> None:
    schema = {"$defs": DEFS, **obj(b=BOOL_OR_INTERP, e={"anyOf": [{"enum": ["a"]}, INTERP]})}
    data, source = load("b: ${var.x}\ne: ${var.y}")
    assert validate(data, source, schema) == []
    assert rows(validate(data, source, schema, resolved=True)) == [
        (1, 4, "Expected true or false for b, got a string", ""),
        (2, 4, 'Invalid value "${var.y}" for e', 'Expected "a".'),
    ]
    data, source = load("b: true\ne: a")
    assert validate(data, source, schema, resolved=True) == []


def test_interpolation_alone_is_refused_once_resolved() -> None:
    schema = {"$defs": DEFS, **obj(i=INTERP)}
    data, source = load("i: ${var.x}")
    assert validate(data, source, schema) == []
    assert rows(validate(data, source, schema, resolved=True)) == [
        (1, 4, 'Invalid value "${var.x}" for i',
         "An interpolation is not allowed here once values are resolved."),
    ]  # fmt: skip


def test_an_interpolation_def_reached_otherwise_still_applies_once_resolved() -> None:
    schema = {"$defs": DEFS, **obj(i={"$ref": "#/$defs/interpolation", "minLength": 1})}
    assert validate({"i": "${a}"}, SourceMap(), schema, resolved=True) == []


# Schema errors are the developer's, raised when the schema is first compiled.


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"format": "uri"}, "#: unsupported JSON Schema keyword(s): format"),
        ({"properties": {"a": {"typ": "string"}}}, "#/properties/a: unsupported JSON Schema"),
        ({"$defs": {"x": {"maxProperties": 1}}}, "#/$defs/x: unsupported"),
        ({"items": {"prefixItems": []}}, "#/items: unsupported"),
        ({"type": "str"}, "#/type: must name JSON types"),
        ({"type": []}, "#/type: must name JSON types"),
        ({"pattern": "("}, "#/pattern: invalid regular expression"),
        ({"patternProperties": {"(": {}}}, "invalid regular expression"),
        ({"$ref": "https://example.com/s.json"}, "#/$ref: only local references"),
        ({"$ref": "#/$defs/missing"}, "points to nothing"),
        ({"enum": []}, "#/enum: must be a non-empty list"),
        ({"required": "a"}, "#/required: must be a list of strings"),
        ({"minLength": "1"}, "#/minLength: must be an integer"),
        ({"minimum": True}, "#/minimum: must be a number"),
        ({"uniqueItems": 1}, "#/uniqueItems: must be true or false"),
        ({"anyOf": []}, "#/anyOf: must be a non-empty list of schemas"),
        ({"allOf": [1]}, "#/allOf/0: a schema must be a mapping or a boolean"),
        ({"propertyNames": {"enum": ["a"]}}, "#/propertyNames: only pattern"),
        ({"x-message": 3}, "#/x-message: must be a string"),
        ({"properties": []}, "#/properties: must be a mapping"),
        ({"then": {"bogus": 1}}, "#/then: unsupported"),
    ],
)
def test_unsupported_schema_raises(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        check_schema(schema)
    assert message in str(info.value)


def test_unused_defs_are_checked_too() -> None:
    with pytest.raises(ValueError, match="nullable"):
        check_schema({"$defs": {"unused": {"nullable": True}}})


def test_validate_raises_for_an_unsupported_part_it_reaches() -> None:
    schema = {"properties": {"a": {"nullable": True}, "b": {"type": "string"}}}
    assert validate({"b": "x"}, SourceMap(), schema) == []  # "a" is never reached
    for _ in range(2):  # and a failed compile is not cached as a lenient node
        with pytest.raises(ValueError, match="nullable"):
            validate({"a": 1}, SourceMap(), schema)


def test_lazy_compilation_reports_what_eager_compilation_did() -> None:
    """Diagnostics do not depend on what was compiled before: a value checked against a fresh
    schema, against one whose tree was compiled whole first, and against one already used for
    another value all get the same ones."""
    schema_module = pytest.importorskip("provision.spec.schema")
    from provision.spec import jsonschema

    bad = {"version": 1, "deployments": {"prod": {"coder": {"url": 3}, "providers": {
        "openai": {"via": "bridge", "bogus": True}, "xai": {"enabled": "yes"}}}},
        "targets": {"t": {"type": "nope"}, "u": {"type": "mux_providers", "secrets": 1}}}
    fresh = validate(bad, SourceMap(), copy.deepcopy(schema_module.spec_schema()))

    eager = copy.deepcopy(schema_module.spec_schema())
    root = jsonschema._compiled(eager, False)
    assert root.pending is not None
    nodes = root.pending[0].nodes
    while any(n.pending is not None for n in nodes.values()):
        for node in list(nodes.values()):
            node.ensure()
    assert len(nodes) > 200  # the whole tree, not the part one value reaches

    warm = copy.deepcopy(schema_module.spec_schema())
    validate({"version": 1, "deployments": {"x": {}}}, SourceMap(), warm)
    assert validate(bad, SourceMap(), eager) == fresh
    assert validate(bad, SourceMap(), warm) == fresh
    assert len(fresh) >= 5


def test_compiled_once_and_cached_by_identity() -> None:
    schema: dict[str, Any] = obj(a={"type": "string"})
    assert validate({"a": 1}, SourceMap(), schema) != []
    # A cached schema is not recompiled, so a change made after first use is not seen; that is
    # the price of compiling once, and schemas are built once at import.
    schema["properties"]["a"]["type"] = "integer"
    assert validate({"a": 1}, SourceMap(), schema) != []
    assert validate({"a": 1}, SourceMap(), obj(a={"type": "integer"})) == []


def test_project_schemas_stay_within_the_supported_subset() -> None:
    schema_module = pytest.importorskip("provision.spec.schema")
    for schema in (schema_module.spec_schema(), schema_module.module_schema()):
        for resolved in (False, True):
            check_schema(schema, resolved=resolved)


def test_deeply_nested_data_is_a_diagnostic_not_a_crash() -> None:
    data: Any = "leaf"
    for _ in range(5000):
        data = [data]
    schema = {
        "$defs": {"list": {"type": ["array", "string"], "items": {"$ref": "#/$defs/list"}}},
        "$ref": "#/$defs/list",
    }
    diags = validate(data, SourceMap(), schema)
    assert [d.summary for d in diags] == ["The document is nested too deeply to validate"]


def test_unusual_python_values_do_not_crash() -> None:
    schema = obj(
        a={"type": "string"}, b={"enum": ["x"]}, c={"uniqueItems": True},
        d={"propertyNames": {"pattern": "^a"}}, e={"additionalProperties": False},
    )  # fmt: skip
    data = {"a": b"bytes", "b": {1, 2}, "c": [object(), object()], "d": {1: 2}, "e": {None: 1}}
    summaries = [d.summary for d in validate(data, SourceMap(), schema)]
    assert summaries == [
        "Expected a string for a, got a bytes value",
        'Invalid key "1" in d: does not match ^a',
        "Invalid value for b",
        "Unknown key null in e",
    ]


def test_huge_integers_do_not_crash() -> None:
    # Python refuses str() of an int over 4300 digits; YAML parses one without complaint.
    huge = 10**5000
    schema = {"properties": {"a": {"type": "string"}, "b": {"maximum": 1}},
              "additionalProperties": False}  # fmt: skip
    summaries = [d.summary for d in validate({"a": huge, "b": huge, huge: 1}, SourceMap(), schema)]
    assert summaries == [
        "Expected a string for a, got (a very large number)",
        "Invalid value (a very large number) for b: must be at most 1",
        "Unknown key (a very large number) at the top level",
    ]


# Property: never raises, and is deterministic, for arbitrary JSON-like data.

PROPERTY_SCHEMA: dict[str, Any] = {
    "$defs": {
        **DEFS,
        "target": TARGET,
        "tree": TREE["$defs"]["node"] | {"properties": {
            "name": {"type": "string", "minLength": 1},
            "children": {"type": "array", "items": {"$ref": "#/$defs/tree"}},
        }},
        "secret": {"anyOf": [{"type": "string"}, obj(env={"pattern": "^[A-Z_]+$"})]},
    },
    "type": "object",
    "properties": {
        "version": {"const": 1},
        "flag": BOOL_OR_INTERP,
        "port": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, INTERP]},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 5},
                 "uniqueItems": True, "minItems": 1, "maxItems": 3},
        "targets": {"type": "object", "additionalProperties": {"$ref": "#/$defs/target"},
                    "propertyNames": {"pattern": "^[a-z]+$", "x-message": "Bad target name"}},
        "tree": {"$ref": "#/$defs/tree"},
        "env": {"type": "object", "minProperties": 1,
                "patternProperties": {"^[A-Z]+$": {"$ref": "#/$defs/secret"}},
                "additionalProperties": False},
        "choice": {"oneOf": [{"type": "null"}, {"enum": ["a", "b", 1, True]}]},
    },
    "required": ["version"],
    "additionalProperties": False,
}  # fmt: skip

KEYS = st.sampled_from(
    ["version", "flag", "port", "ratio", "tags", "targets", "tree", "env", "choice", "type",
     "name", "children", "secrets", "dialect", "style", "path", "A", "B", "x", ""]
)  # fmt: skip
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats()
    | st.text(max_size=8) | st.sampled_from(["${var.x}", "${", "mux", "shell", "tf", "inline"])
)  # fmt: skip
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(KEYS, JSONISH, max_size=8) | JSONISH, resolved=st.booleans())
def test_never_raises_and_is_deterministic(data: Any, resolved: bool) -> None:
    first = validate(data, SourceMap(), PROPERTY_SCHEMA, resolved=resolved)
    assert first == validate(data, SourceMap(), PROPERTY_SCHEMA, resolved=resolved)
    assert all(d.is_error and d.summary for d in first)
    assert len({(d.span, d.summary) for d in first}) == len(first)


@settings(max_examples=100, deadline=None)
@given(data=st.recursive(
    SCALARS | st.builds(Secret, st.text(min_size=1, max_size=8)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
))  # fmt: skip
def test_never_raises_with_secrets(data: Any) -> None:
    validate(data, SourceMap(), PROPERTY_SCHEMA, resolved=True)
