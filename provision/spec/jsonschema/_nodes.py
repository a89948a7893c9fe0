"""The compiled tree: a node per subschema, what it checks, and what evaluating it found."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from provision.spec.jsonschema._messages import (
    Types,
    _Error,
    _intersect,
    _pkey,
    _show,
    _unknown_key,
)
from provision.spec.source import Path

if TYPE_CHECKING:
    from provision.spec.jsonschema._compiler import _Compiler


INTERPOLATION_REF = "#/$defs/interpolation"

_ANNOTATIONS = frozenset(
    {"title", "description", "markdownDescription", "default", "examples", "deprecated",
     "$schema", "$id", "$comment", "x-message"}
)  # fmt: skip


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
