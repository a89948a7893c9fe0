"""Compiling a schema into the tree of nodes, one subschema at a time, when a value first
reaches it (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provision.spec.jsonschema._checks import (
    _SIMPLE,
    _all_of,
    _any_of,
    _conditional,
    _enum,
    _interpolation_refused,
    _items,
    _nothing_allowed,
    _property_names,
    _regex,
    _type,
)
from provision.spec.jsonschema._messages import (
    _TYPE_NAMES,
    _Error,
    _intersect,
    _kind,
    _pkey,
    _unknown_key,
)
from provision.spec.jsonschema._nodes import _ANNOTATIONS, INTERPOLATION_REF, Check, _Eval, _Node
from provision.spec.source import Path

_KEYWORDS = _ANNOTATIONS | {
    "type", "properties", "additionalProperties", "patternProperties", "propertyNames",
    "required", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "items", "uniqueItems",
    "minProperties", "anyOf", "oneOf", "allOf", "if", "then", "else", "unevaluatedProperties",
    "$ref", "$defs",
}  # fmt: skip
_OBJECT_KEYS = frozenset({"properties", "patternProperties", "additionalProperties"})


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


def _declared_types(kw: str, value: Any, at: str) -> tuple[str, ...]:
    if kw == "type":
        types = (value,) if isinstance(value, str) else value
        if not isinstance(types, list | tuple) or not types or set(types) - set(_TYPE_NAMES):
            raise ValueError(f"{at}: must name JSON types, got {value!r}")
        return tuple(types)
    if kw == "enum" and (not isinstance(value, list) or not value):
        raise ValueError(f"{at}: must be a non-empty list")
    return tuple(dict.fromkeys(_kind(v) for v in ([value] if kw == "const" else value)))


def _mapping(schema: Mapping[str, Any], kw: str, ptr: str) -> Mapping[str, Any]:
    value = schema.get(kw, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"{ptr}/{kw}: must be a mapping")
    return value


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
