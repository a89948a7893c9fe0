"""Compose a YAML spec file's event stream into a scratch tree of nodes, each with its span.

Events rather than `yaml.compose`: the C composer recurses on the C stack and takes the whole
process down on deeply nested input, while both parsers are state machines. Here a plain scalar
gets its tag, an alias is linked to its anchor's node, a collection's span ends where its content
does, and positions in the text become the spans (and syntax errors) the loader reports.
"""

from __future__ import annotations

import json
import re
from typing import Protocol

import yaml
from yaml.resolver import Resolver

from provision.errors import Diagnostic, DiagnosticsError, Span


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


# Deeper than any real spec; low enough that building stays far from Python's recursion limit.
_MAX_DEPTH = 256

_T = "tag:yaml.org,2002:"
_MAP, _SEQ, _STR, _MERGE = _T + "map", _T + "seq", _T + "str", _T + "merge"
_NULL, _BOOL, _INT, _FLOAT = _T + "null", _T + "bool", _T + "int", _T + "float"
_IMPLICIT: dict[str, list[tuple[str, re.Pattern[str]]]] = Resolver.yaml_implicit_resolvers
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_LINE_BREAKS = "\r\n\x85\u2028\u2029"
_TRAILING = " \t" + _LINE_BREAKS


class _Node:
    # Mutable scratch nodes (children are appended while events arrive), never leave the loader.
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


class _Composer:
    def __init__(self, text: str, filename: str) -> None:
        self.text, self.filename = text, filename
        # A dict keeps the order and drops repeats when an aliased node is built twice.
        self.diags: dict[Diagnostic, None] = {}
        self.composed = 0

    def report(self, diag: Diagnostic) -> None:
        self.diags[diag] = None

    def fail(self, diag: Diagnostic) -> DiagnosticsError:
        self.report(diag)
        return DiagnosticsError(self.diags)

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
