"""Load a YAML spec file into plain data plus a SourceMap.

PyYAML's constructor keeps the last of two duplicate keys, turns dates into datetime objects and
forgets where each value came from, so this module reads the parser's event stream and builds
the values itself. Events rather than `yaml.compose`: the C composer recurses on the C stack and
takes the whole process down on deeply nested input, while both parsers are state machines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Protocol

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from provision.errors import Diagnostic, DiagnosticsError, Span
from provision.spec.source import Document, Path, SourceMap


class _Mark(Protocol):
    # libyaml and the pure-Python parser have different Mark classes with the same fields.
    @property
    def line(self) -> int: ...
    @property
    def column(self) -> int: ...
    @property
    def index(self) -> int: ...


class _EventSource(Protocol):
    def get_event(self) -> yaml.Event | None: ...
    def dispose(self) -> None: ...


# libyaml is several times faster; tests swap in the pure-Python parser to check they agree.
_LOADER: Callable[[str], _EventSource] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Deeper than any real spec; low enough that building stays far from Python's recursion limit.
_MAX_DEPTH = 256
# Aliases may repeat a subtree; past this many extra nodes it is an alias bomb, not a spec.
_ALIAS_ALLOWANCE = 100_000

_T = "tag:yaml.org,2002:"
_MAP, _SEQ, _STR, _MERGE = _T + "map", _T + "seq", _T + "str", _T + "merge"
_NULL, _BOOL, _INT, _FLOAT = _T + "null", _T + "bool", _T + "int", _T + "float"
# The spec has no dates or bytes: those stay the text that was written.
_AS_TEXT = frozenset({_STR, _T + "timestamp", _T + "binary", _T + "value", _MERGE})
_IMPLICIT: dict[str, list[tuple[str, re.Pattern[str]]]] = Resolver.yaml_implicit_resolvers
_CONSTRUCTOR = SafeConstructor()
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_LINE_BREAKS = "\r\n\x85\u2028\u2029"
_TRAILING = " \t" + _LINE_BREAKS
# PyYAML's own rule for characters a YAML stream may not contain.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


class _Node:
    # Mutable scratch nodes (children are appended while events arrive), never leave the module.
    __slots__ = ("span",)
    span: Span


class _Scalar(_Node):
    __slots__ = ("tag", "value")

    def __init__(self, tag: str, value: str, span: Span) -> None:
        self.tag, self.value, self.span = tag, value, span


class _Collection(_Node):
    __slots__ = ("anchor", "flow", "items", "tag")

    def __init__(self, tag: str, span: Span, flow: bool, anchor: str | None) -> None:
        self.tag, self.span, self.flow, self.anchor = tag, span, flow, anchor
        self.items: list[_Node] = []  # a mapping holds key, value, key, value, ...


class _Seq(_Collection):
    __slots__ = ()


class _Map(_Collection):
    __slots__ = ()


class _Alias(_Node):
    __slots__ = ("target",)

    def __init__(self, target: _Node, span: Span) -> None:
        self.target, self.span = target, span


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
    except RecursionError:
        loader.report(Diagnostic.error("Invalid YAML: nesting too deep", span=loader.at(0, 0)))
    if loader.diags:
        raise DiagnosticsError(loader.diags)
    return Document(
        data=data, source=SourceMap(values=loader.values, keys=loader.keys), files=(filename,)
    )


class _Loader:
    def __init__(self, text: str, filename: str) -> None:
        self.text, self.filename = text, filename
        self.values: dict[Path, Span] = {}
        self.keys: dict[Path, Span] = {}
        # A dict keeps the order and drops repeats when an aliased node is built twice.
        self.diags: dict[Diagnostic, None] = {}
        self.entries_cache: dict[int, list[tuple[str, _Node, _Node]]] = {}
        self.composed = self.built = 0

    def report(self, diag: Diagnostic) -> None:
        self.diags[diag] = None

    def fail(self, diag: Diagnostic) -> DiagnosticsError:
        self.report(diag)
        return DiagnosticsError(self.diags)

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

    def compose_events(self, source: _EventSource) -> _Node | None:
        root: _Node | None = None
        stack: list[_Collection] = []
        anchors: dict[str, tuple[_Node, Span]] = {}
        open_anchors: set[str] = set()
        documents = 0
        while True:
            ev = source.get_event()
            node: _Node
            if isinstance(ev, yaml.ScalarEvent):
                tag = ev.tag
                if tag is None or tag == "!":
                    tag = _resolve(ev.value) if ev.implicit[0] else _STR
                span = self.span(ev.start_mark, ev.end_mark)
                if ev.style in ("|", ">"):
                    span = self.trim_block_scalar(span, _mark(ev.start_mark), _mark(ev.end_mark))
                node = _Scalar(tag, ev.value, span)
                self.anchor(ev, node, anchors)
            elif isinstance(ev, yaml.AliasEvent):
                span = self.span(ev.start_mark, ev.end_mark)
                name = ev.anchor or ""
                if name not in anchors or name in open_anchors:
                    problem = "recursive" if name in open_anchors else "undefined"
                    summary = f"Invalid YAML: {problem} alias {_quote(name)}"
                    self.report(Diagnostic.error(summary, span=span))
                    node = _Alias(_Scalar(_NULL, "", span), span)
                else:
                    node = _Alias(anchors[name][0], span)
            elif isinstance(ev, yaml.CollectionStartEvent):
                is_map = isinstance(ev, yaml.MappingStartEvent)
                default = _MAP if is_map else _SEQ
                tag = default if ev.tag is None or ev.tag == "!" else ev.tag
                span = self.span(ev.start_mark, ev.end_mark)  # the end is set on closing
                opened = (_Map if is_map else _Seq)(tag, span, bool(ev.flow_style), ev.anchor)
                if tag != default:
                    self.report(_unsupported_tag(tag, span))
                if ev.anchor is not None:
                    open_anchors.add(ev.anchor)
                self.anchor(ev, opened, anchors)
                stack.append(opened)
                if len(stack) > _MAX_DEPTH:
                    # Stop early: both parsers slow down quadratically with flow nesting depth.
                    raise self.fail(_too_deep(span))
                continue
            elif isinstance(ev, yaml.CollectionEndEvent):
                node = closed = stack.pop()
                # A block ends where the next token starts, often lines later: use its last child.
                end = closed.items[-1].span if closed.items and not closed.flow else None
                end_line, end_column = (
                    (end.end_line, end.end_column) if end else _one_based(_mark(ev.end_mark))
                )
                start = closed.span  # replace() costs several times this
                closed.span = Span(start.filename, start.line, start.column, end_line, end_column)
                if closed.anchor is not None:
                    open_anchors.discard(closed.anchor)
            elif isinstance(ev, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    summary = "Invalid YAML: a spec file holds one YAML document"
                    detail = "a second document starts here; move it to a file of its own"
                    span = self.span(ev.start_mark, ev.end_mark)
                    raise self.fail(Diagnostic.error(summary, detail, span))
                continue
            elif ev is None or isinstance(ev, yaml.StreamEndEvent):
                return root
            else:
                continue
            self.composed += 1
            if stack:
                stack[-1].items.append(node)
            else:
                root = node

    def anchor(
        self, ev: yaml.NodeEvent, node: _Node, anchors: dict[str, tuple[_Node, Span]]
    ) -> None:
        if ev.anchor is None:
            return
        span = self.span(ev.start_mark, ev.end_mark)
        if ev.anchor in anchors:
            summary = f"Invalid YAML: duplicate anchor {_quote(ev.anchor)}"
            self.report(
                Diagnostic.error(summary, f"first defined at {anchors[ev.anchor][1]}", span)
            )
        anchors[ev.anchor] = (node, span)

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

    def syntax_error(self, exc: yaml.MarkedYAMLError) -> Diagnostic:
        mark = exc.problem_mark or exc.context_mark
        span = self.span(mark, mark) if mark else self.at(0, 0)
        if mark is not None and mark.index < len(self.text):
            span = Span(self.filename, span.line, span.column, span.line, span.column + 1)
        details = []
        if exc.context:
            where = exc.context_mark
            details.append(exc.context + (f" at {self.span(where, where)}" if where else ""))
        if exc.note:
            details.append(exc.note)
        return Diagnostic.error(
            f"Invalid YAML: {exc.problem or exc.context or 'syntax error'}",
            "\n".join(details),
            span,
        )

    def span(self, start: _Mark | None, end: _Mark | None) -> Span:
        # Called for every node of the file: written out rather than through _one_based.
        assert start is not None and end is not None  # both parsers mark every event
        return Span(self.filename, start.line + 1, start.column + 1, end.line + 1, end.column + 1)

    def at(self, start: int, end: int) -> Span:
        """A span from string offsets; only on error paths, where there is no mark to use."""
        (line, col), (end_line, end_col) = self.position(start), self.position(end)
        return Span(self.filename, line, col, end_line, end_col)

    def position(self, index: int) -> tuple[int, int]:
        index = min(index, len(self.text))
        line, line_start = 1, 0
        for m in _BREAK.finditer(self.text, 0, index):
            line, line_start = line + 1, m.end()
        return line, index - line_start + 1

    def trim_block_scalar(self, span: Span, start: _Mark, end: _Mark) -> Span:
        """End a `|` or `>` scalar after its last visible character, not at the next token."""
        text, i = self.text, end.index
        while i > start.index + 1 and text[i - 1] in _TRAILING:
            i -= 1
        if i == end.index:
            return span
        line_start = max(text.rfind(c, 0, i) for c in _LINE_BREAKS) + 1
        end_line = span.end_line - len(_BREAK.findall(text, i, end.index))
        return Span(span.filename, span.line, span.column, end_line, i - line_start + 1)


def _resolve(value: str) -> str:
    for tag, pattern in _IMPLICIT.get(value[:1], ()):
        if pattern.match(value):
            return tag
    return _STR


def _one_based(mark: _Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def _mark(mark: _Mark | None) -> _Mark:
    # Both parsers put marks on every event; the stubs only say they might not.
    assert mark is not None
    return mark


def _unsupported_tag(tag: str, span: Span) -> Diagnostic:
    return Diagnostic.error(
        f"Invalid YAML: unsupported tag {_quote(tag)}",
        "spec files hold plain data: strings, numbers, booleans, null, lists and mappings",
        span,
    )


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _too_deep(span: Span) -> Diagnostic:
    return Diagnostic.error(f"Invalid YAML: nesting deeper than {_MAX_DEPTH} levels", span=span)
