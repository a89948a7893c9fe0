"""shell_exports: a target's variables as a file a shell sources (POSIX sh/bash/zsh, fish,
PowerShell) or a dotenv file for python-dotenv.

Literal values are single-quoted in every shell, so nothing in a value is expanded or executed
when the file is sourced; dotenv values are double-quoted with backslash escapes, the form
python-dotenv reads back exactly. A value a dialect cannot carry is refused, never mangled.
`secrets: reference` writes a secret that came from an environment variable as a reference to
that variable, so the file holds no secret at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from provision.errors import Diagnostic, DiagnosticsError
from provision.model import Spec, Target
from provision.record import record
from provision.render import Artifact, Rendered
from provision.render.envvars import EnvVar, target_vars
from provision.secrets import REDACTOR, Secret

__all__ = [
    "DIALECTS",
    "export_lines",
    "quote_dotenv",
    "quote_fish",
    "quote_posix",
    "quote_powershell",
    "render",
]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# PowerShell closes a single-quoted string at U+2018..U+201B too, not only at the apostrophe.
_PS_SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")
# python-dotenv expands ${NAME} and ${NAME:-default} in quoted values too and has no escape.
_DOTENV_EXPANSION = re.compile(r"\$\{[^}:]*(?::-[^}]*)?\}")
_DOTENV_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})
# Characters that would end a one-line comment early in one of the dialects.
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _checked(s: str, dialect: str) -> str:
    """s itself, or ValueError saying why `dialect` cannot carry it exactly."""
    reason = None
    if "\0" in s:
        reason = "contains a NUL character, which no environment variable can hold"
    elif not s.isascii() and not _encodable(s):
        reason = "contains a lone surrogate, which cannot be written as UTF-8"
    elif dialect == "dotenv" and _DOTENV_EXPANSION.search(s):
        reason = "contains ${…}, which python-dotenv expands in every form of value"
    elif dialect == "dotenv" and s.endswith("\\") and not _dotenv_bare_ok(s):
        reason = (
            "ends with a backslash, which python-dotenv misreads before a closing quote, "
            "and cannot be written unquoted (it has surrounding spaces, quotes, ` #` or "
            "line breaks)"
        )
    if reason is not None:
        raise ValueError(f"the value {reason}")
    return s


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def quote_posix(s: str) -> str:
    """A single-quoted sh word: nothing inside is expanded; `'` becomes `'\\''`."""
    return "'" + _posix_body(_checked(s, "posix")) + "'"


def quote_fish(s: str) -> str:
    """A fish single-quoted string, where only `\\\\` and `\\'` are escapes."""
    return "'" + _fish_body(_checked(s, "fish")) + "'"


def quote_powershell(s: str) -> str:
    """A PowerShell single-quoted string: every kind of single quote is doubled."""
    return "'" + _powershell_body(_checked(s, "powershell")) + "'"


def quote_dotenv(s: str) -> str:
    """A python-dotenv value: double-quoted with backslash escapes. Its quoted-value pattern
    reads an escaped trailing backslash plus the closing quote as an escaped quote, so such a
    value is written bare when a bare value can carry it."""
    s = _checked(s, "dotenv")
    if s.endswith("\\"):
        return s
    return '"' + _dotenv_body(s) + '"'


# The bodies of the quoted forms, between the quotes. The redactor masks a secret in each of
# these forms, so a value written into one of these files is masked in plan's diff too.
def _posix_body(s: str) -> str:
    return s.replace("'", "'\\''")


def _fish_body(s: str) -> str:
    return s.replace("\\", "\\\\").replace("'", "\\'")


def _powershell_body(s: str) -> str:
    return "".join(c * 2 if c in _PS_SINGLE_QUOTES else c for c in s)


def _dotenv_body(s: str) -> str:
    return s.translate(_DOTENV_ESCAPES)


REDACTOR.add_encoders(_posix_body, _fish_body, _powershell_body, _dotenv_body)


def _dotenv_bare_ok(s: str) -> bool:
    # A bare value is read to the end of the line, loses surrounding whitespace and a ` #…`
    # comment, and a leading quote would make it a quoted value.
    return s == s.strip() and not s.startswith(("'", '"')) and not re.search(r"[\r\n]|\s#", s)


@record(kw_only=False)
class _Dialect:
    """How one dialect writes an assignment: of a literal value, quoted with `quote`, or of
    a reference to another environment variable."""

    literal: str  # format with name, value (already quoted)
    reference: str  # format with name, ref (an environment variable name)
    quote: Callable[[str], str]


_DIALECTS: dict[str, _Dialect] = {
    "posix": _Dialect("export {name}={value}", 'export {name}="${{{ref}}}"', quote_posix),
    "fish": _Dialect("set -gx {name} {value}", "set -gx {name} ${ref}", quote_fish),
    "powershell": _Dialect("$env:{name} = {value}", "$env:{name} = $env:{ref}", quote_powershell),
    "dotenv": _Dialect("{name}={value}", "{name}=${{{ref}}}", quote_dotenv),
}
DIALECTS = tuple(_DIALECTS)


@record(kw_only=False)
class _Lines:
    """A target's assignment lines, whether they inline a secret value (the file is then
    0600 and sensitive), and the variables they refer to."""

    text: str
    inlined_secret: bool  # some secret value is in the text
    references: tuple[str, ...]  # environment variables the text refers to


def export_lines(
    vars: Iterable[EnvVar],
    dialect: str = "posix",
    secrets_mode: str = "inline",
    *,
    target: str = "",
) -> str:
    """One assignment line per variable, for a file or for `eval "$(provision env …)"`.
    Raises DiagnosticsError naming `target` (when given) for a value the dialect cannot carry."""
    return _lines(vars, dialect, secrets_mode, target).text


def _lines(vars: Iterable[EnvVar], dialect: str, secrets_mode: str, target: str) -> _Lines:
    if dialect not in _DIALECTS:
        raise ValueError(f"unknown shell dialect {dialect!r}; expected one of {DIALECTS}")
    if secrets_mode not in ("inline", "reference"):
        raise ValueError(f"unknown secrets mode {secrets_mode!r}; expected inline or reference")
    form = _DIALECTS[dialect]
    where = f' in target "{target}"' if target else ""
    lines: list[str] = []
    diags: list[Diagnostic] = []
    inlined = False
    refs: dict[str, None] = {}

    def refuse(var: EnvVar, summary: str, detail: str) -> None:
        diags.append(Diagnostic.error(f"{var.name}{where} {summary}", detail, var.span))

    for var in vars:
        if not _NAME.fullmatch(var.name):
            refuse(
                var,
                "is not a valid variable name",
                "Names are letters, digits and underscores, not starting with a digit.",
            )
            continue
        value = var.value
        if isinstance(value, Secret):
            origin = value.origin
            if secrets_mode == "reference":
                if origin.kind != "env" or not _NAME.fullmatch(origin.name):
                    refuse(
                        var,
                        f"is a secret from {origin}, which `secrets: reference` cannot refer to",
                        "Only a secret read from an environment variable can be written as "
                        "a reference: set it with `{env: NAME}`, or use `secrets: inline`.",
                    )
                    continue
                refs[origin.name] = None
                lines.append(form.reference.format(name=var.name, ref=origin.name))
                continue
            if not value.known:
                refuse(
                    var,
                    f"is a secret from {origin} that has not been read",
                    "Inline secrets are written into the file, so they must be read first; "
                    "`secrets: reference` needs no value.",
                )
                continue
            inlined = True
            text = value.reveal()
        else:
            text = value
        try:
            quoted = form.quote(text)
        except ValueError as exc:
            refuse(
                var,
                f"cannot be written as {dialect}: {exc}",
                "Change the value, or pick another dialect for this target.",
            )
            continue
        lines.append(form.literal.format(name=var.name, value=quoted))
    if diags:
        raise DiagnosticsError(diags)
    return _Lines("".join(line + "\n" for line in lines), inlined, tuple(refs))


def _spec_file(spec: Spec, target: Target) -> str:
    """The file that declares the target, relative to the spec root so the header does not
    change with the working directory."""
    if target.span is None:
        return spec.root.name
    path = Path(target.span.filename)
    try:
        return (Path.cwd() / path).resolve().relative_to(spec.root).as_posix()
    except (ValueError, OSError):
        return path.name


def render(spec: Spec, target: Target, existing: bytes | None) -> Rendered:
    dialect = target.options.get("dialect", "posix")
    out = _lines(
        target_vars(spec, target), dialect, target.options.get("secrets", "inline"), target.name
    )
    about = _LINE_BREAKS.sub("?", f'{_spec_file(spec, target)}, target "{target.name}"')
    header = (
        f"# Generated by provision from {about}.\n"
        "# Do not edit: `provision apply` rewrites this file.\n"
    )
    text = header + out.text
    if dialect == "powershell":
        # Windows PowerShell 5.1 reads a script without a BOM as ANSI, not UTF-8.
        text = "\ufeff" + text
    if target.path is None:
        raise DiagnosticsError(
            [Diagnostic.error(f'Target "{target.name}" needs a path', span=target.span)]
        )
    artifact = Artifact(
        address=target.address,
        path=target.path,
        content=text.encode("utf-8"),
        mode=0o600 if out.inlined_secret else 0o644,
        sensitive=out.inlined_secret,
    )
    return Rendered(artifacts=(artifact,), env_required=out.references)
