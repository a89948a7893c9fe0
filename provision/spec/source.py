"""Parsed documents with a side table of source positions.

Values stay plain Python data (dict, list, str, int, float, bool, None); positions live beside
them, keyed by the path of the node in the document, so nothing downstream has to unwrap nodes.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from provision.errors import Span
from provision.record import field, record

Key = str | int
Path = tuple[Key, ...]


@record(frozen=False, kw_only=False)
class SourceMap:
    """Where each node came from. `values[p]` spans the value at path p; `keys[p]` spans the
    mapping key whose value is at path p (so an unknown-key error can point at the key)."""

    values: dict[Path, Span] = field(default_factory=dict)
    keys: dict[Path, Span] = field(default_factory=dict)

    def at(self, path: Path) -> Span | None:
        """The span of the value at path, or of its nearest ancestor that has one."""
        for n in range(len(path), -1, -1):
            span = self.values.get(path[:n])
            if span is not None:
                return span
        return None

    def key_at(self, path: Path) -> Span | None:
        """The span of the key introducing path, falling back to the value's span."""
        return self.keys.get(path) or self.at(path)

    def graft(self, other: SourceMap, prefixes: Collection[Path]) -> None:
        """Copy other's spans at and below each of prefixes, in one pass over other (one pass
        per prefix made merging a file of n deployments quadratic)."""
        lengths = {len(p) for p in prefixes}
        for table, mine in ((other.values, self.values), (other.keys, self.keys)):
            for p, s in table.items():
                if any(p[:n] in prefixes for n in lengths):
                    mine[p] = s


@record(frozen=False, kw_only=False)
class Document:
    """One parsed spec file (or the merge of several): data plus where each node came from."""

    data: Any
    source: SourceMap
    files: tuple[str, ...]


def format_path(path: Path) -> str:
    """`deployments.prod.providers[0]` style, for messages."""
    out = ""
    for k in path:
        if isinstance(k, int):
            out += f"[{k}]"
        else:
            out += ("." if out else "") + k
    return out or "(root)"
