"""HCL2 (Terraform native syntax) primitives: string literals, names, and a tiny formatter.

Escaping follows hclwrite's own `escapeQuotedStringLit` (hashicorp/hcl) and the native syntax
spec (hclsyntax/spec.md, "Template Literals"): the only backslash escapes are \\n \\r \\t \\" \\\\
\\uNNNN \\UNNNNNNNN, and a literal `${` or `%{` is written by doubling its first character.
Two things no escape can carry make `quote` refuse the value: lone surrogates (not encodable
in UTF-8) and text that is not in Unicode NFC, because Terraform's cty NFC-normalizes every
string on entry (go-cty `cty.StringVal`), so it would read back a different value.

The formatter lays a tree of blocks and attributes out as `terraform fmt` (hclwrite
format.go) does: 2-space indent, and the `=` of consecutive single-line attributes aligned.
A line that opens a multi-line value, a nested block, a comment or a blank line ends the run.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from provision.record import record
from provision.secrets import REDACTOR

__all__ = [
    "BLANK",
    "Attr",
    "Blank",
    "Block",
    "Comment",
    "Node",
    "Object",
    "check_text",
    "escape_template",
    "format_body",
    "identifier",
    "json_literal",
    "object_key",
    "printable",
    "quote",
    "reference",
]

_IDENTIFIER = re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]*")
_BARE_KEY = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Bare words that would not be read as a plain string key in an object constructor: literal
# keywords become values, `for` right after `{` starts a for expression.
_KEYWORDS = frozenset({"true", "false", "null", "for", "in", "if", "else", "endif", "endfor"})
_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_INTRODUCER = re.compile(r"([$%])(?=\{)")
_LONE_CR = re.compile(r"\r(?!\n)")
# Printable ASCII passes through unchanged (but for `"` and `\` in a quoted literal): checked
# with one regex rather than character by character, which dominated rendering large specs.
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


def check_text(s: str) -> None:
    """Raise ValueError when Terraform cannot hold s exactly (the message never quotes s)."""
    if s.isascii():
        return  # no surrogates, and ASCII is always NFC
    for index, ch in enumerate(s):
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError(
                f"character {index + 1} is a lone surrogate (U+{ord(ch):04X}), "
                "which cannot be encoded in UTF-8"
            )
    if not unicodedata.is_normalized("NFC", s):
        raise ValueError(
            "the text is not in Unicode NFC form; Terraform normalizes every string to NFC, "
            "so it would read back a different value (normalize it in the spec)"
        )


def escape_template(s: str) -> str:
    """s with every `${` and `%{` doubled, so a template reads it back as literal text.

    The last `$`/`%` before the brace is doubled, which is how HCL's scanner pairs them:
    `$${` reads back as `${`, `$$${` as `$${`."""
    check_text(s)
    return _INTRODUCER.sub(r"\1\1", s)


def json_literal(s: str) -> str:
    """The text of a Terraform JSON-syntax string that reads back as s.

    JSON strings are templates, so `${`/`%{` are escaped as in native syntax. Two characters
    the template scanner cannot take literally (hclsyntax scan_tokens.rl, bare template mode):
    a leading U+FEFF is dropped as a byte-order mark, and a carriage return without a line feed
    stops template scanning, so the rest is read raw, escapes and all. A value holding either
    is written as one interpolation of a native quoted string, which evaluates to exactly s."""
    if s.startswith("\ufeff") or _LONE_CR.search(s):
        return "${" + quote(s) + "}"
    return escape_template(s)


def _is_printable(ch: str) -> bool:
    # Go's unicode.IsPrint, which hclwrite uses: categories L, M, N, P, S and the ASCII space.
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def printable(s: str) -> str:
    """s with every non-printable character shown as an escape, for comments and messages."""
    if _PRINTABLE_ASCII.fullmatch(s):
        return s
    return "".join(ch if _is_printable(ch) else f"\\u{ord(ch):04x}" for ch in s)


def quote(s: str) -> str:
    """An HCL quoted string literal that Terraform reads back as exactly s."""
    return '"' + _quoted_body(s) + '"'


def _quoted_body(s: str) -> str:
    text = escape_template(s)
    if _PRINTABLE_ASCII.fullmatch(text):
        return text.replace("\\", "\\\\").replace('"', '\\"')
    out: list[str] = []
    for ch in text:
        if ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif _is_printable(ch):
            out.append(ch)
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


# A template's `hcl` filter writes a revealed secret as a quoted literal: plan must mask it in
# that form. (coder_agent_env never writes a secret's value: it becomes a sensitive variable.)
REDACTOR.add_encoders(_quoted_body)


def identifier(s: str) -> str:
    """s itself when it is a valid HCL identifier (resource, variable and local names)."""
    if not _IDENTIFIER.fullmatch(s):
        raise ValueError(
            f"{s!r} is not a valid name: start with a letter or underscore, then use only "
            "letters, digits, underscores and hyphens"
        )
    return s


def reference(s: str, *, min_parts: int = 2) -> tuple[str, ...]:
    """The parts of a dotted reference such as `coder_agent.main` or `data.coder_workspace.me`."""
    parts = tuple(s.split("."))
    if len(parts) < min_parts or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        raise ValueError(
            f"{s!r} is not a Terraform reference of at least {min_parts} dot-separated names "
            "(e.g. coder_agent.main)"
        )
    return parts


def object_key(s: str) -> str:
    """An object constructor key: bare when it is a plain name, quoted otherwise."""
    if _BARE_KEY.fullmatch(s) and s not in _KEYWORDS:
        return s
    return quote(s)


@record(kw_only=False)
class Object:
    """An object constructor `{ key = value … }`; keys already rendered (see object_key)."""

    items: tuple[tuple[str, str], ...]


@record(kw_only=False)
class Attr:
    """`name = expr`: expr is single-line expression text, or an Object."""

    name: str
    expr: str | Object


@record(kw_only=False)
class Block:
    """`type "label" … { body }`: the type must be an identifier; labels are quoted."""

    type: str
    labels: tuple[str, ...] = ()
    body: tuple[Node, ...] = ()


@record(kw_only=False)
class Comment:
    """A `#` comment line; the text must be printable (no line breaks, no control chars)."""

    text: str


@record(kw_only=False)
class Blank:
    """An empty line; like a comment, it ends a run of aligned `=`."""


BLANK = Blank()
Node = Attr | Block | Comment | Blank


def format_body(nodes: Sequence[Node], indent: int = 0) -> str:
    """The nodes as formatted HCL, one trailing newline, as `terraform fmt` would write it."""
    lines: list[tuple[str, str | None]] = []  # (lead, assign): assign starts at "="
    _lay_out(nodes, indent, lines)
    out: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(lead) for lead, _ in run), default=0)
        out.extend(f"{lead.ljust(width)} {assign}" for lead, assign in run)
        run.clear()

    for lead, assign in lines:
        if assign is None:
            flush()
            out.append(lead)
        else:
            run.append((lead, assign))
    flush()
    return "".join(line + "\n" for line in out)


def _lay_out(nodes: Iterable[Node], indent: int, lines: list[tuple[str, str | None]]) -> None:
    pad = "  " * indent
    for node in nodes:
        if isinstance(node, Blank):
            lines.append(("", None))
        elif isinstance(node, Comment):
            if not (_PRINTABLE_ASCII.fullmatch(node.text) or all(map(_is_printable, node.text))):
                raise ValueError("a comment can hold only printable characters")
            lines.append((f"{pad}# {node.text}".rstrip(), None))
        elif isinstance(node, Attr):
            _lay_out_attr(node, pad, lines)
        else:
            header = " ".join([identifier(node.type), *map(quote, node.labels)])
            if not node.body:
                lines.append((f"{pad}{header} {{}}", None))
                continue
            lines.append((f"{pad}{header} {{", None))
            _lay_out(node.body, indent + 1, lines)
            lines.append((f"{pad}}}", None))


def _lay_out_attr(attr: Attr, pad: str, lines: list[tuple[str, str | None]]) -> None:
    lead = f"{pad}{attr.name}"
    if isinstance(attr.expr, str):
        lines.append((lead, f"= {attr.expr}"))
    elif not attr.expr.items:
        lines.append((lead, "= {}"))
    else:
        # A line that opens a multi-line value is not aligned with its neighbours (hclwrite
        # counts its brackets and leaves it out of the run); its items form their own run.
        lines.append((f"{lead} = {{", None))
        for key, value in attr.expr.items:
            lines.append((f"{pad}  {key}", f"= {value}"))
        lines.append((f"{pad}}}", None))
