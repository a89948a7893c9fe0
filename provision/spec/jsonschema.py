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

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from provision.errors import Diagnostic, sort_key
from provision.secrets import Secret
from provision.spec.source import Path, SourceMap, format_path

INTERPOLATION_REF = "#/$defs/interpolation"

_ANNOTATIONS = frozenset(
    {"title", "description", "markdownDescription", "default", "examples", "deprecated",
     "$schema", "$id", "$comment", "x-message"}
)  # fmt: skip
_KEYWORDS = _ANNOTATIONS | {
    "type", "properties", "additionalProperties", "patternProperties", "propertyNames",
    "required", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "items", "uniqueItems",
    "minProperties", "anyOf", "oneOf", "allOf", "if", "then", "else", "unevaluatedProperties",
    "$ref", "$defs",
}  # fmt: skip
_OBJECT_KEYS = frozenset({"properties", "patternProperties", "additionalProperties"})
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


class _Eval:
    """What the in-place subschemas applied to one mapping found: the keys they evaluated (for
    unevaluatedProperties), the names they declare (for "allowed keys") and whether an `if`
    matched (so a mapping whose discriminator is broken gets no unknown-key noise)."""

    __slots__ = ("conditionals", "evaluated", "known", "matched", "patterns")

    def __init__(self) -> None:
        self.evaluated: set[object] = set()
        self.known: set[str] = set()
        self.patterns: dict[str, None] = {}
        self.conditionals = self.matched = 0

    def merge(self, other: _Eval) -> None:
        self.evaluated |= other.evaluated
        self.known |= other.known
        self.patterns |= other.patterns
        self.conditionals += other.conditionals
        self.matched += other.matched


Check = Callable[[Any, Path, list[_Error], _Eval | None], None]


class _Node:
    __slots__ = ("and_nodes", "checks", "cond_nodes", "is_interp", "names", "or_groups",
                 "own_types", "pending", "possible", "types_cache", "unevaluated",
                 "variants")  # fmt: skip

    def __init__(self, pending: tuple[_Compiler, Any, str] | None = None) -> None:
        self.pending = pending  # (compiler, schema, pointer) until first needed
        self.reset()

    def reset(self) -> None:
        self.is_interp = False
        self.checks: tuple[Check, ...] = ()
        self.own_types: Types = None
        self.and_nodes: list[_Node] = []  # allOf members and $ref targets
        self.or_groups: list[list[_Node]] = []  # anyOf / oneOf
        self.cond_nodes: list[_Node] = []  # if / then / else
        self.variants: list[tuple[str, Any, _Node]] = []  # if {key: {const}} then …
        self.names: tuple[str, ...] = ()
        self.unevaluated: _Node | bool | None = None
        self.types_cache: list[Types] = []
        self.possible: frozenset[str] | None = None

    def ensure(self) -> _Node:
        """This node, compiled. Compiling one node only creates its children, so this never
        recurses, whatever cycles the schema's $refs make."""
        if self.pending is not None:
            compiler, schema, ptr = self.pending
            try:
                compiler.build(self, schema, ptr)
            except BaseException:
                self.reset()  # a developer error raises again on next use, from scratch
                raise
            self.pending = None
        return self

    def run(self, value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
        if self.pending is not None:
            self.ensure()
        if self.unevaluated is None or not isinstance(value, Mapping):
            for check in self.checks:
                check(value, path, errors, ev)
            return
        own, start = _Eval(), len(errors)
        for check in self.checks:
            check(value, path, errors, own)
        # No `if` matched and the mapping is already in error (its `type` is missing or invalid):
        # which keys belong is unknowable, so report only keys that are valid under no branch.
        blind = (
            own.conditionals > 0
            and own.matched == 0
            and any(
                e.path[: len(path)] == path and len(e.path) <= len(path) + 1 for e in errors[start:]
            )
        )
        for key in [k for k in value if k not in own.evaluated]:
            if isinstance(self.unevaluated, _Node):
                self.unevaluated.run(value[key], (*path, _pkey(key)), errors, None)
            elif self.unevaluated is False and not (blind and key in self.possible_names()):
                where = self.variants_for(key) if key in self.possible_names() else ""
                errors.append(_unknown_key(path, key, own.known, own.patterns, where))
        if ev is not None:
            ev.merge(own)
            ev.evaluated.update(value)

    def types(self) -> Types:
        """The JSON types this schema can accept, for choosing which anyOf branch to report."""
        if self.types_cache:
            return self.types_cache[0]
        self.ensure()
        self.types_cache.append(None)  # a recursive $ref accepts anything while being computed
        out = self.own_types
        for node in self.and_nodes:
            out = _intersect(out, node.types())
        for group in self.or_groups:
            branches = ([n.types() for n in group if not n.ensure().is_interp]
                        or [n.types() for n in group])
            if all(b is not None for b in branches):
                out = _intersect(out, tuple(dict.fromkeys(t for b in branches for t in b or ())))
        self.types_cache[0] = out
        return out

    def accepts(self, kind: str) -> bool:
        types = self.types()
        if types is None or kind in types:
            return True
        # For an integer field given 2.5, "expected an integer" beats "expected a string".
        return kind in ("integer", "number") and ("integer" in types or "number" in types)

    def variants_for(self, key: object) -> str:
        """`type is "a" or "b"`: the discriminated variants that declare key."""
        found: dict[str, list[str]] = {}
        todo, seen = [self], set()
        while todo:
            node = todo.pop(0).ensure()
            if id(node) not in seen:
                seen.add(id(node))
                todo += node.and_nodes
                for name, const, then in node.variants:
                    if key in then.possible_names():
                        found.setdefault(name, []).append(_show(const) or json.dumps(const))
        return " or ".join(f"{n} is {' or '.join(values)}" for n, values in found.items())

    def possible_names(self) -> frozenset[str]:
        """Property names declared anywhere in place, whichever branch applies."""
        if self.possible is None:
            self.ensure()
            self.possible = frozenset()  # guards recursion through $ref
            names = set(self.names)
            for node in [
                *self.and_nodes,
                *self.cond_nodes,
                *(n for g in self.or_groups for n in g),
            ]:
                names |= node.possible_names()
            self.possible = frozenset(names)
        return self.possible


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


class _Compiler:
    def __init__(self, root: Mapping[str, Any], resolved: bool) -> None:
        self.root, self.resolved = root, resolved
        self.nodes: dict[str, _Node] = {}  # by JSON pointer: a $ref cycle meets its own node

    def resolve(self, ref: str) -> Any:
        target: Any = self.root
        for raw in ref[2:].split("/") if ref != "#" else ():
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and token in target:
                target = target[token]
            elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                target = target[int(token)]
            else:
                raise ValueError(f"$ref {ref!r} points to nothing in the schema")
        return target

    def compile(self, schema: Any, ptr: str) -> _Node:
        """The node for the subschema at ptr, compiled when first needed (`_Node.ensure`)."""
        node = self.nodes.get(ptr)
        if node is None:
            node = self.nodes[ptr] = _Node((self, schema, ptr))
        return node

    def build(self, node: _Node, schema: Any, ptr: str) -> None:
        if isinstance(schema, bool):
            node.checks, node.own_types = ((), None) if schema else ((_nothing_allowed,), ())
            return
        if not isinstance(schema, Mapping):
            raise ValueError(f"{ptr}: a schema must be a mapping or a boolean, got {schema!r}")
        unknown = sorted(set(schema) - _KEYWORDS)
        if unknown:
            raise ValueError(f"{ptr}: unsupported JSON Schema keyword(s): {', '.join(unknown)}")
        xmsg = schema.get("x-message")
        if xmsg is not None and not isinstance(xmsg, str):
            raise ValueError(f"{ptr}/x-message: must be a string")
        for name, sub in _mapping(schema, "$defs", ptr).items():
            self.compile(sub, f"{ptr}/$defs/{_escape(name)}")
        if schema.get("$ref") == INTERPOLATION_REF and set(schema) - _ANNOTATIONS == {"$ref"}:
            node.is_interp = True
            if self.resolved:
                node.checks, node.own_types = (_interpolation_refused,), ()
                return
        checks = [self.keyword(node, schema, kw, ptr, xmsg) for kw in schema]
        if _OBJECT_KEYS & set(schema):
            checks.append(self.object_keys(node, schema, ptr))
        node.checks = tuple(c for c in checks if c is not None)

    def keyword(
        self, node: _Node, schema: Mapping[str, Any], kw: str, ptr: str, xmsg: str | None
    ) -> Check | None:
        value, at = schema[kw], f"{ptr}/{kw}"
        if kw in _SIMPLE:
            return _SIMPLE[kw](value, at, xmsg)
        if kw in ("type", "enum", "const"):
            declared = _declared_types(kw, value, at)
            node.own_types = _intersect(node.own_types, declared)
            return _type(declared, xmsg) if kw == "type" else _enum(kw, value, xmsg)
        if kw == "items":
            return _items(self.compile(value, at))
        if kw == "unevaluatedProperties":
            node.unevaluated = False if value is False else self.compile(value, at)
            return None
        if kw in ("allOf", "anyOf", "oneOf"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"{at}: must be a non-empty list of schemas")
            branches = [self.compile(sub, f"{at}/{i}") for i, sub in enumerate(value)]
            if kw == "allOf":
                node.and_nodes += branches
                return _all_of(branches)
            node.or_groups.append(branches)
            return _any_of(branches, self.resolved, xmsg)
        if kw == "$ref":
            if not isinstance(value, str) or not (value == "#" or value.startswith("#/")):
                raise ValueError(f"{at}: only local references ('#/...') are supported")
            target = self.compile(self.resolve(value), value)
            node.and_nodes.append(target)
            return target.run
        if kw == "if":
            then, other = (
                self.compile(schema[b], f"{ptr}/{b}") if b in schema else None
                for b in ("then", "else")
            )
            cond = self.compile(value, at)
            node.cond_nodes += [n for n in (cond, then, other) if n is not None]
            props = value.get("properties") if isinstance(value, Mapping) else None
            if then is not None and isinstance(props, Mapping) and len(props) == 1:
                ((name, sub),) = props.items()
                if isinstance(sub, Mapping) and "const" in sub:
                    node.variants.append((name, sub["const"], then))
            return _conditional(cond, then, other)
        if kw == "propertyNames":
            return _property_names(value, at)
        if kw in ("then", "else") and "if" not in schema:
            self.compile(value, at)  # inert without "if", but its keywords must still be valid
        return None  # handled with a partner keyword (then, else, properties, …) or ignored

    def object_keys(self, node: _Node, schema: Mapping[str, Any], ptr: str) -> Check:
        props = {
            name: self.compile(sub, f"{ptr}/properties/{_escape(name)}")
            for name, sub in _mapping(schema, "properties", ptr).items()
        }
        node.names = tuple(n for n in props if schema["properties"][n] is not False)
        patterns = [
            (p, _regex(p, ptr), self.compile(sub, f"{ptr}/patternProperties/{_escape(p)}"))
            for p, sub in _mapping(schema, "patternProperties", ptr).items()
        ]
        extra = schema.get("additionalProperties", True)
        extra_node = None if extra is False else self.compile(extra, f"{ptr}/additionalProperties")
        names, pattern_names = node.names, dict.fromkeys(p for p, _, _ in patterns)
        closed = "additionalProperties" in schema

        def check(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
            if not isinstance(value, Mapping):
                return
            for key, item in value.items():
                where = (*path, _pkey(key))
                sub = props.get(key) if isinstance(key, str) else None
                if sub is not None:
                    sub.run(item, where, errors, None)
                matched = sub is not None
                for _, rx, pnode in patterns if isinstance(key, str) else ():
                    if rx.search(key):
                        pnode.run(item, where, errors, None)
                        matched = True
                if not matched and closed:
                    if extra_node is None:
                        errors.append(_unknown_key(path, key, names, pattern_names))
                    else:
                        extra_node.run(item, where, errors, None)
                    matched = True
                if matched and ev is not None:
                    ev.evaluated.add(key)
            if ev is not None:
                ev.known.update(names)
                ev.patterns |= pattern_names

        return check


# Keyword checks. Each takes the keyword's value (and x-message) at compile time and returns a
# closure; all are no-ops for values of a type the keyword does not apply to.


def _type(types: tuple[str, ...], xmsg: str | None) -> Check:
    number_ok = "number" in types

    def check(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
        kind = _kind(value)
        if kind not in types and not (kind == "integer" and number_ok):
            errors.append(_type_error(path, types, value, xmsg))

    return check


def _enum(kw: str, spec: Any, xmsg: str | None) -> Check:
    allowed = [spec] if kw == "const" else spec
    frozen = {_freeze(v) for v in allowed}
    listing = ", ".join(_show(v) or json.dumps(v) for v in allowed)
    expected = f"Expected {listing}." if len(allowed) == 1 else f"Expected one of: {listing}."
    words = [v for v in allowed if isinstance(v, str)]

    def check(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
        if isinstance(value, Secret) or _freeze(value) in frozen:
            return

        def message() -> tuple[str, str]:
            close = difflib.get_close_matches(value, words, 1) if isinstance(value, str) else []
            hint = f"\nDid you mean {json.dumps(close[0])}?" if close else ""
            return _message(path, _invalid(value, path), expected + hint, xmsg)

        errors.append(_Error(path, kind=kw, make=message))

    return check


def _pattern(spec: Any, at: str, xmsg: str | None) -> Check:
    rx = _regex(spec, at)

    def check(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
        if isinstance(value, str) and not rx.search(value):
            summary = f"{_invalid(value, path)}: does not match {rx.pattern}"
            errors.append(_fail(path, summary, "", "pattern", xmsg))

    return check


_MEASURED: dict[str, tuple[type, ...]] = {
    "minLength": (str,), "maxLength": (str,), "minItems": (list, tuple),
    "maxItems": (list, tuple), "minProperties": (Mapping,),
}  # fmt: skip


def _same(value: Any) -> Any:
    return value


def _bound(kw: str) -> Callable[[Any, str, str | None], Check]:
    """minimum, maximum, minLength, minItems, …: one comparison and one message each."""
    measured = _MEASURED.get(kw, (int, float))
    size: Callable[[Any], Any] = len if kw in _MEASURED else _same
    counted, below = kw in _MEASURED, kw.startswith(("min", "exclusiveMin"))
    exclusive = kw.startswith("exclusive")

    def factory(limit: Any, at: str, xmsg: str | None) -> Check:
        if isinstance(limit, bool) or not isinstance(limit, int if counted else int | float):
            raise ValueError(f"{at}: must be {'an integer' if counted else 'a number'}")

        def check(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
            if not isinstance(value, measured) or isinstance(value, bool):
                return
            n = size(value)
            # Written as "within bounds" so that NaN (YAML's .nan) fails every bound.
            if below:
                ok = n > limit if exclusive else n >= limit
            else:
                ok = n < limit if exclusive else n <= limit
            if not ok:
                errors.append(_Error(path, _bound_message(kw, value, limit, path), kind=kw))

        return check

    return factory


def _bound_message(kw: str, value: Any, limit: Any, path: Path) -> str:
    if kw in ("minItems", "maxItems", "minProperties"):
        what = "keys" if kw == "minProperties" else "items"
        few = "few" if kw.startswith("min") else "many"
        most = "least" if kw.startswith("min") else "most"
        return f"Too {few} {what} {_in(path)}: expected at {most} {limit}, got {len(value)}"
    if kw == "minLength" and limit == 1:
        return f"{_invalid(value, path)}: must not be empty"
    rule = {"minLength": "at least", "maxLength": "at most", "minimum": "at least",
            "maximum": "at most", "exclusiveMinimum": "greater than",
            "exclusiveMaximum": "less than"}[kw]  # fmt: skip
    unit = f" character{'s' * (limit != 1)} long" if kw.endswith("Length") else ""
    return f"{_invalid(value, path)}: must be {rule} {_num(limit)}{unit}"


def _unique(spec: Any, at: str, xmsg: str | None) -> Check:
    if not isinstance(spec, bool):
        raise ValueError(f"{at}: must be true or false")

    def check(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
        if not isinstance(value, list | tuple):
            return
        first: dict[object, int] = {}
        for i, item in enumerate(value):
            j = first.setdefault(_freeze(item), i)
            if j != i:
                item_path = (*path, i)
                shown = f" {_show(item)}" if _show(item) else ""
                summary = f"Duplicate item{shown} in {format_path(path)}"
                detail = f"It already appears at {format_path((*path, j))}."
                errors.append(_Error(item_path, summary, detail, "uniqueItems"))

    return check if spec else _nothing_checked


def _required(spec: Any, at: str, xmsg: str | None) -> Check:
    if not isinstance(spec, list) or not all(isinstance(n, str) for n in spec):
        raise ValueError(f"{at}: must be a list of strings")
    names = tuple(spec)

    def check(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
        if isinstance(value, Mapping):
            for name in names:
                if name not in value:
                    summary = f"Missing required key {json.dumps(name)} {_in(path)}"
                    errors.append(_Error(path, summary, kind="required"))

    return check


_SIMPLE: dict[str, Callable[[Any, str, str | None], Check]] = {
    "pattern": _pattern,
    "uniqueItems": _unique,
    "required": _required,
}
_SIMPLE.update(
    (kw, _bound(kw))
    for kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", *_MEASURED)
)


def _property_names(spec: Any, at: str) -> Check:
    supported = _ANNOTATIONS | {"pattern", "minLength", "maxLength"}
    if not isinstance(spec, Mapping) or set(spec) - supported:
        raise ValueError(f"{at}: only pattern, minLength and maxLength are supported here")
    rx = _regex(spec["pattern"], at) if "pattern" in spec else None
    shortest, longest, xmsg = spec.get("minLength", 0), spec.get("maxLength"), spec.get("x-message")
    if not all(isinstance(n, int) for n in (shortest, longest or 0)):
        raise ValueError(f"{at}: minLength and maxLength must be integers")

    def check(mapping: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
        if not isinstance(mapping, Mapping):
            return
        for key in mapping:
            name = _text(key)
            if len(name) < shortest:
                problem = "must not be empty" if shortest == 1 else f"must be at least {shortest}"
                problem += " characters long" * (shortest != 1)
            elif longest is not None and len(name) > longest:
                problem = f"must be at most {longest} characters long"
            elif rx is not None and not rx.search(name):
                problem = f"does not match {rx.pattern}"
            else:
                continue
            summary = f"Invalid key {json.dumps(name)} {_in(path)}: {problem}"
            errors.append(_fail((*path, _pkey(key)), summary, "", "pattern", xmsg, at_key=True))

    return check


def _items(node: _Node) -> Check:
    def check(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
        if isinstance(value, list | tuple):
            for i, item in enumerate(value):
                node.run(item, (*path, i), errors, None)

    return check


def _all_of(branches: list[_Node]) -> Check:
    def check(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
        for node in branches:
            node.run(value, path, errors, ev)

    return check


def _conditional(cond: _Node, then: _Node | None, other: _Node | None) -> Check:
    def check(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
        found: list[_Error] = []
        cond_ev = _Eval() if ev is not None else None
        cond.run(value, path, found, cond_ev)
        if ev is not None and cond_ev is not None:
            ev.conditionals += 1
            if not found:
                ev.merge(cond_ev)
                ev.matched += 1
        branch = other if found else then
        if branch is not None:
            branch.run(value, path, errors, ev)

    return check


def _any_of(branches: list[_Node], resolved: bool, xmsg: str | None) -> Check:
    """anyOf, and oneOf too: overlapping alternatives (a string or an interpolation) are how the
    schema is written, so a value matching two of them is not an error worth reporting."""

    def check(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
        tries: list[tuple[_Node, list[_Error], _Eval | None]] = []
        for node in branches:
            found: list[_Error] = []
            branch_ev = _Eval() if ev is not None else None
            node.run(value, path, found, branch_ev)
            tries.append((node, found, branch_ev))
            if not found and ev is None:
                return
        passed = [b for _, found, b in tries if not found]
        if passed:
            for branch_ev in passed:
                if ev is not None and branch_ev is not None:
                    ev.merge(branch_ev)
            return
        kind, real = _kind(value), [t for t in tries if not t[0].is_interp]
        fits = [t for t in real if t[0].accepts(kind)]
        if not resolved and isinstance(value, str) and "${" in value:
            fits = [t for t in tries if t[0].is_interp] or fits  # a botched interpolation
        types = tuple(dict.fromkeys(t for n, _, _ in real for t in n.types() or ()))
        if not fits and len(real) != 1 and types:
            errors.append(_type_error(path, types, value, xmsg))
            return
        # The interpolation alternative is a fallback: with one real alternative, report that.
        fits = fits or real or tries
        depth = len(path)

        def closeness(t: tuple[_Node, list[_Error], _Eval | None]) -> tuple[int, int]:
            # The branch whose first mismatch lies deepest matched the most of the value.
            return (-min(len(e.path) - e.at_key - depth for e in t[1]), len(t[1]))

        _, found, branch_ev = min(fits, key=closeness)
        errors += found
        if ev is not None and branch_ev is not None:
            ev.merge(branch_ev)

    return check


def _nothing_allowed(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
    if path and isinstance(path[-1], str):
        summary = f"Key {json.dumps(path[-1])} is not allowed {_in(path[:-1])}"
        errors.append(_Error(path, summary, kind="unknown", at_key=True))
    else:
        errors.append(_Error(path, f"No value is allowed {_for(path)}", kind="type"))


def _nothing_checked(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
    pass


def _interpolation_refused(value: Any, path: Path, errors: list[_Error], ev: _Eval | None) -> None:
    detail = "An interpolation is not allowed here once values are resolved."
    errors.append(_Error(path, _invalid(value, path), detail, "type"))


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
        close = [] if variants else difflib.get_close_matches(_text(key), allowed, 1)
        also = f"keys matching {' or '.join(patterns)}" if patterns else ""
        listed = ", ".join(allowed) + ("; also " + also if allowed and also else also)
        if close:
            detail = f"Did you mean {json.dumps(close[0])}?"
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


def _declared_types(kw: str, value: Any, at: str) -> tuple[str, ...]:
    if kw == "type":
        types = (value,) if isinstance(value, str) else value
        if not isinstance(types, list | tuple) or not types or set(types) - set(_TYPE_NAMES):
            raise ValueError(f"{at}: must name JSON types, got {value!r}")
        return tuple(types)
    if kw == "enum" and (not isinstance(value, list) or not value):
        raise ValueError(f"{at}: must be a non-empty list")
    return tuple(dict.fromkeys(_kind(v) for v in ([value] if kw == "const" else value)))


def _intersect(a: Types, b: Types) -> Types:
    if a is None or b is None:
        return b if a is None else a
    return tuple(t for t in a if t in b or (t == "integer" and "number" in b))


def _regex(pattern: Any, at: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise ValueError(f"{at}: invalid regular expression {pattern!r}: {exc}") from exc


def _mapping(schema: Mapping[str, Any], kw: str, ptr: str) -> Mapping[str, Any]:
    value = schema.get(kw, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"{ptr}/{kw}: must be a mapping")
    return value


def _pkey(key: object) -> str | int:
    return key if isinstance(key, str | int) and not isinstance(key, bool) else _text(key)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
