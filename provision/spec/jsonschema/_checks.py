"""The keyword checks a node runs. Each takes the keyword's value (and x-message) when its
subschema is compiled and returns a closure; all are no-ops for values of a type the keyword
does not apply to."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from provision.errors import closest
from provision.secrets import Secret
from provision.spec.jsonschema._messages import (
    _Error,
    _fail,
    _for,
    _freeze,
    _in,
    _invalid,
    _kind,
    _message,
    _num,
    _pkey,
    _show,
    _text,
    _type_error,
)
from provision.spec.jsonschema._nodes import _ANNOTATIONS, Check, _Eval, _Node
from provision.spec.source import Path, format_path


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
            close = closest(value, words) if isinstance(value, str) else None
            hint = f"\nDid you mean {json.dumps(close)}?" if close else ""
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


def _regex(pattern: Any, at: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise ValueError(f"{at}: invalid regular expression {pattern!r}: {exc}") from exc
