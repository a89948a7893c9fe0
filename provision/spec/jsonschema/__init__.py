"""Validate spec data against the project's JSON Schema (a draft 2020-12 subset).

Editors get the schema from `provision schema`; user files are checked against that same document
here, so the two cannot drift. A schema is compiled once into a tree of closures (cached by
identity), which keeps a 1,000-deployment spec fast. Each subschema is compiled when a value first
reaches it: a spec uses a fraction of the schema, and compiling all of it was most of what a
small `provision plan` spent after its imports. A keyword outside the supported subset is a
developer error, never a silently ignored rule: `ValueError` from `check_schema` for any part of
the schema (the test suite checks the project's schemas whole), or from `validate` for a part
that it reaches.

Messages are for people: every problem is reported, each at the offending value (at the key, for
an unknown key; at the mapping, for a missing one). When `anyOf` fails, the branch that best
explains the failure is reported rather than all of them. `"x-message"` in a subschema replaces
the summary of its own type/enum/const/pattern failures (`{path}` in it becomes the location); the
default summary then moves into the detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provision.errors import Diagnostic, sort_key
from provision.spec.jsonschema._compiler import _Compiler
from provision.spec.jsonschema._messages import _Error
from provision.spec.jsonschema._nodes import INTERPOLATION_REF, _Node
from provision.spec.source import SourceMap

__all__ = ["INTERPOLATION_REF", "check_schema", "validate"]


def validate(
    data: object, source: SourceMap, schema: Mapping[str, Any], *, resolved: bool = False
) -> list[Diagnostic]:
    """Every way data fails schema, as error diagnostics sorted by position. Never raises for
    any data; raises ValueError for a schema using a keyword outside the supported subset.

    With `resolved`, Secret values count as strings (their value is never inspected) and the
    `#/$defs/interpolation` alternative never matches: after interpolation, a field that allowed
    "${var.x}" in place of a boolean must hold a real boolean."""
    root = _compiled(schema, resolved)
    errors: list[_Error] = []
    try:
        root.run(data, (), errors, None)
    except RecursionError:
        errors = [_Error((), "The document is nested too deeply to validate")]
    seen: set[tuple[object, str]] = set()
    out: list[Diagnostic] = []
    for e in errors:
        span = source.key_at(e.path) if e.at_key else source.at(e.path)
        if (span, e.summary) not in seen:
            seen.add((span, e.summary))
            out.append(Diagnostic.error(e.summary, e.detail, span))
    return sorted(out, key=sort_key)


_CACHE: dict[tuple[int, bool], tuple[Mapping[str, Any], _Node]] = {}


def check_schema(schema: Mapping[str, Any], *, resolved: bool = False) -> None:
    """Compile every part of schema now, unused $defs included: ValueError for the first keyword
    outside the supported subset."""
    compiler = _Compiler(schema, resolved)
    compiler.compile(schema, "#")
    while True:
        todo = [node for node in compiler.nodes.values() if node.pending is not None]
        if not todo:
            return
        for node in todo:
            node.ensure()


def _compiled(schema: Mapping[str, Any], resolved: bool) -> _Node:
    hit = _CACHE.get((id(schema), resolved))
    if hit is not None and hit[0] is schema:
        return hit[1]
    node = _Compiler(schema, resolved).compile(schema, "#")
    _CACHE[(id(schema), resolved)] = (schema, node)  # holding the schema keeps its id unique
    return node
