"""Load a YAML spec file into plain data plus a SourceMap.

PyYAML's constructor keeps the last of two duplicate keys, turns dates into datetime objects and
forgets where each value came from, so this module builds the values itself, from the tree of
nodes that `_yaml_compose` makes of the parser's event stream.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from provision.errors import Diagnostic, DiagnosticsError, Span
from provision.spec._yaml_compose import (
    _BOOL,
    _FLOAT,
    _INT,
    _MAX_DEPTH,
    _MERGE,
    _NULL,
    _STR,
    _T,
    _Alias,
    _Composer,
    _EventSource,
    _Map,
    _Node,
    _quote,
    _Scalar,
    _Seq,
    _too_deep,
    _unsupported_tag,
)
from provision.spec.source import Document, Path, SourceMap

# libyaml is several times faster; tests swap in the pure-Python parser to check they agree.
_LOADER: Callable[[str], _EventSource] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Aliases may repeat a subtree; past this many extra nodes it is an alias bomb, not a spec.
_ALIAS_ALLOWANCE = 100_000

# The spec has no dates or bytes: those stay the text that was written.
_AS_TEXT = frozenset({_STR, _T + "timestamp", _T + "binary", _T + "value", _MERGE})
_CONSTRUCTOR = SafeConstructor()
_LONG_ESCAPE = r"\\U([0-9A-Fa-f]{8})"  # compiled only for a document that needs it
# PyYAML's own rule for characters a YAML stream may not contain.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def load_yaml(text: str, filename: str) -> Document:
    """Parse one YAML document; raise DiagnosticsError listing every problem found."""
    if text.startswith("\ufeff"):
        text = text[1:]
    loader = _Loader(text, filename)
    try:
        data = loader.load()
    except yaml.MarkedYAMLError as exc:
        loader.report(loader.syntax_error(exc))
    except (yaml.reader.ReaderError, UnicodeError) as exc:
        # libyaml reports a byte offset and surrogates fail before parsing: find the character.
        bad = _NON_PRINTABLE.search(text)
        at = bad.start() if bad else 0
        what = f"character U+{ord(text[at]):04X} is not allowed" if bad else str(exc)
        loader.report(Diagnostic.error(f"Invalid YAML: {what}", span=loader.at(at, at + 1)))
    except yaml.YAMLError as exc:
        loader.report(Diagnostic.error(f"Invalid YAML: {exc}", span=loader.at(0, 0)))
    except (ValueError, OverflowError):
        # PyYAML's Python scanner turns a \U escape past U+10FFFF into chr() of it, unchecked.
        bad = next((m for m in re.finditer(_LONG_ESCAPE, text) if int(m[1], 16) > 0x10FFFF), None)
        at, end = (bad.start(), bad.end()) if bad else (0, 0)
        what = f"escape {bad[0]} is beyond U+10FFFF" if bad else "unreadable escape"
        loader.report(Diagnostic.error(f"Invalid YAML: {what}", span=loader.at(at, end)))
    except RecursionError:
        loader.report(Diagnostic.error("Invalid YAML: nesting too deep", span=loader.at(0, 0)))
    if loader.diags:
        raise DiagnosticsError(loader.diags)
    return Document(
        data=data, source=SourceMap(values=loader.values, keys=loader.keys), files=(filename,)
    )


class _Loader(_Composer):
    def __init__(self, text: str, filename: str) -> None:
        super().__init__(text, filename)
        self.values: dict[Path, Span] = {}
        self.keys: dict[Path, Span] = {}
        self.entries_cache: dict[int, list[tuple[str, _Node, _Node]]] = {}
        self.built = 0

    def load(self) -> Any:
        root = self.compose()
        if root is None:
            self.values[()] = Span(self.filename, 1, 1, 1, 1)
            return None
        return self.build(root, (), 0)

    def compose(self) -> _Node | None:
        source = _LOADER(self.text)
        try:
            return self.compose_events(source)
        finally:
            source.dispose()

    def build(self, node: _Node, path: Path, depth: int) -> Any:
        span = node.span
        if isinstance(node, _Alias):
            node = node.target
        self.values[path] = span
        self.built += 1
        if self.built > self.composed + _ALIAS_ALLOWANCE:
            summary = "Invalid YAML: aliases expand to too many nodes"
            detail = f"more than {_ALIAS_ALLOWANCE} nodes beyond those written in the file"
            raise self.fail(Diagnostic.error(summary, detail, span))
        if isinstance(node, _Scalar):
            return self.scalar(node)
        if depth >= _MAX_DEPTH:  # reachable through aliases even when the text is shallow
            raise self.fail(_too_deep(span))
        if isinstance(node, _Seq):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.items)]
        assert isinstance(node, _Map)
        winners: dict[str, tuple[_Node, _Node]] = {}
        for key, key_node, value_node in self.entries(node, depth):
            winners[key] = (key_node, value_node)  # later wins; the first position is kept
        out: dict[str, Any] = {}
        for key, (key_node, value_node) in winners.items():
            here = (*path, key)
            self.keys[here] = key_node.span
            out[key] = self.build(value_node, here, depth + 1)
        return out

    def entries(self, node: _Map, depth: int) -> list[tuple[str, _Node, _Node]]:
        """Key/value pairs of a mapping with `<<` merges expanded, in PyYAML's override order."""
        cached = self.entries_cache.get(id(node))
        if cached is not None:
            return cached
        if depth >= _MAX_DEPTH:
            raise self.fail(
                Diagnostic.error("Invalid YAML: merge keys nested too deeply", span=node.span)
            )
        merged: list[tuple[str, _Node, _Node]] = []
        own: list[tuple[str, _Node, _Node]] = []
        first: dict[str, Span] = {}
        items = iter(node.items)
        for key_node, value_node in zip(items, items, strict=True):
            target = key_node.target if isinstance(key_node, _Alias) else key_node
            is_merge = isinstance(target, _Scalar) and target.tag == _MERGE
            key = "<<" if is_merge else self.key(target, key_node.span)
            if key is None:
                continue
            if key in first:
                detail = f"first defined at {first[key]}"
                self.report(Diagnostic.error(f"Duplicate key {_quote(key)}", detail, key_node.span))
                continue
            first[key] = key_node.span
            if not is_merge:
                own.append((key, key_node, value_node))
                continue
            # Like PyYAML: in `<<: [*a, *b]` the first listed mapping wins, explicit keys beat all.
            for source in reversed(self.merge_sources(value_node)):
                merged.extend(self.entries(source, depth + 1))
        result = merged + own
        self.entries_cache[id(node)] = result
        return result

    def merge_sources(self, value: _Node) -> list[_Map]:
        target = value.target if isinstance(value, _Alias) else value
        items = target.items if isinstance(target, _Seq) else [value]
        sources: list[_Map] = []
        for item in items:
            item_target = item.target if isinstance(item, _Alias) else item
            if isinstance(item_target, _Map):
                sources.append(item_target)
            else:
                # Point at what the user wrote under `<<`, not into an aliased list.
                where = item.span if target is value else value.span
                summary = "Invalid YAML: a merge key (<<) takes a mapping or a list of mappings"
                self.report(Diagnostic.error(summary, span=where))
        return sources

    def key(self, node: _Node, span: Span) -> str | None:
        if not isinstance(node, _Scalar):
            kind = "mapping" if isinstance(node, _Map) else "list"
            detail = "a key is a string, number, boolean or null"
            self.report(
                Diagnostic.error(f"Invalid YAML: a {kind} cannot be a mapping key", detail, span)
            )
            return None
        # Every key in a spec is a name, so a key is its text as written: `on:` stays "on"
        # (not True) and `1:` stays "1", as a user reading the file expects.
        return node.value

    def scalar(self, node: _Scalar) -> Any:
        tag = node.tag
        if tag in _AS_TEXT:
            return node.value
        try:
            if tag == _NULL:
                return None
            if tag == _BOOL:
                return SafeConstructor.bool_values[node.value.lower()]
            if tag == _INT:
                return _CONSTRUCTOR.construct_yaml_int(yaml.ScalarNode(tag, node.value))
            if tag == _FLOAT:
                return _CONSTRUCTOR.construct_yaml_float(yaml.ScalarNode(tag, node.value))
        except (LookupError, ValueError, ArithmeticError):
            summary = f"Invalid YAML: {_quote(node.value)} is not a valid {tag.removeprefix(_T)}"
            self.report(Diagnostic.error(summary, span=node.span))
            return None
        self.report(_unsupported_tag(tag, node.span))
        return None
