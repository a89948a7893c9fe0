"""`${var.NAME}`, `${env.NAME}`, `${env.NAME:-default}` and `$${` for a literal `${`.

Nothing else is ever evaluated: any other text between `${` and `}` is an error. A string that is
exactly one reference takes the referenced value as it is (a list variable stays a list); a
reference inside a longer string is converted to text. A result that contains a secret is a
Secret as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from provision.errors import Diagnostic, Span, closest
from provision.record import field, record
from provision.secrets import Origin, Secret
from provision.spec.source import Path, SourceMap, format_path

_TOKEN = re.compile(r"\$\$\{|\$\{")
_REF = re.compile(r"(var|env)\.([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Derived(str):
    """A string built by interpolation (not written literally in the spec)."""


class EnvDerived(Derived):
    """A string built from at least one environment variable."""


class EnvValue(EnvDerived):
    """A string read whole from one environment variable: a secret field written as
    `${env.NAME}` remembers NAME, so a shell target can refer to it instead of inlining it."""

    env_name: str

    def __new__(cls, value: str, env_name: str) -> EnvValue:
        obj = super().__new__(cls, value)
        obj.env_name = env_name
        return obj


@record(kw_only=False)
class Ref:
    """One `${var.NAME}` or `${env.NAME}` reference; `default` is the `:-` fallback (env only)."""

    kind: str  # "var" | "env"
    name: str
    default: str | None = None


Part = str | Ref


def parse(text: str) -> list[Part]:
    """Split text into literal strings and references. Raises ValueError with a user-facing
    message for an unterminated or unsupported `${…}`."""
    parts: list[Part] = []
    literal: list[str] = []
    pos = 0
    while (m := _TOKEN.search(text, pos)) is not None:
        literal.append(text[pos : m.start()])
        if m.group() == "$${":
            literal.append("${")
            pos = m.end()
            continue
        end = text.find("}", m.end())
        if end < 0:
            raise ValueError(f'Unterminated "${{" in "{_clip(text[m.start():])}"')
        body = text[m.end() : end]
        ref = _REF.fullmatch(body)
        if ref is None:
            raise ValueError(
                f'Unsupported expression "${{{_clip(body)}}}": only ${{var.NAME}}, ${{env.NAME}} '
                "and ${env.NAME:-default} are allowed (write $${ for a literal ${)"
            )
        kind, name, default = ref.groups()
        if default is not None and kind != "env":
            raise ValueError(f'A default (":-") is only allowed for env references: "{body}"')
        if prefix := "".join(literal):
            parts.append(prefix)
        literal = []
        parts.append(Ref(kind, name, default))
        pos = end + 1
    literal.append(text[pos:])
    tail = "".join(literal)
    if tail or not parts:
        parts.append(tail)
    return parts


def _clip(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[:n] + "…"


@record(frozen=False, kw_only=False)
class Interpolator:
    """Interpolates every string in a document. Collects diagnostics instead of raising, and
    reports an unset environment variable once with every place that uses it."""

    variables: Mapping[str, Any]  # name -> value (MISSING when declared without a value)
    env: Mapping[str, str]
    source: SourceMap
    scope: str = "variable"  # "input" inside modules, for messages
    diagnostics: list[Diagnostic] = field(default_factory=list)
    _unset_env: dict[str, list[Span | None]] = field(default_factory=dict)
    _missing_vars: set[str] = field(default_factory=set)

    def walk(self, value: Any, path: Path = ()) -> Any:
        if isinstance(value, str):
            return self.string(value, path)
        if isinstance(value, dict):
            return {k: self.walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, (*path, i)) for i, v in enumerate(value)]
        return value

    def string(self, text: str, path: Path) -> Any:
        if "${" not in text:
            return text
        try:
            parts = parse(text)
        except ValueError as exc:
            self.diagnostics.append(Diagnostic.error(str(exc), span=self.source.at(path)))
            return text
        values = [p if isinstance(p, str) else self._lookup(p, path) for p in parts]
        if any(v is MISSING for v in values):
            return MISSING
        if len(values) == 1 and isinstance(parts[0], Ref):
            return values[0]
        return self._join(values, parts, path)

    def _join(self, values: list[Any], parts: list[Part], path: Path) -> Any:
        out: list[str] = []
        secret = False
        from_env = any(isinstance(v, EnvDerived) for v in values)
        for v, p in zip(values, parts, strict=True):
            if isinstance(v, Secret):
                secret = True
                out.append(v.reveal())
            elif isinstance(v, bool):
                out.append("true" if v else "false")
            elif isinstance(v, int | float | str):
                out.append(str(v))
            else:
                assert isinstance(p, Ref)
                self.diagnostics.append(Diagnostic.error(
                    f'Cannot embed {p.kind}.{p.name} in a string at {format_path(path)}',
                    "Only strings, numbers and booleans can be part of a longer string; "
                    "use the reference as the whole value instead.",
                    span=self.source.at(path),
                ))
                return MISSING
        text = "".join(out)
        if secret:
            return Secret(text, Origin("interpolated", format_path(path)))
        return EnvDerived(text) if from_env else Derived(text)

    def _lookup(self, ref: Ref, path: Path) -> Any:
        if ref.kind == "env":
            value = self.env.get(ref.name)
            if ref.default is not None:  # as in the shell, ":-" also replaces an empty value
                return EnvValue(value, ref.name) if value else Derived(ref.default)
            if value is not None:
                return EnvValue(value, ref.name)
            self._unset_env.setdefault(ref.name, []).append(self.source.at(path))
            return MISSING
        if ref.name not in self.variables:
            hint = closest(ref.name, self.variables)
            detail = f'Did you mean "{hint}"?' if hint else (
                f"Declare it under `{'inputs' if self.scope == 'input' else 'variables'}`."
            )
            self.diagnostics.append(Diagnostic.error(
                f'Reference to undeclared {self.scope} "{ref.name}"', detail,
                span=self.source.at(path),
            ))
            return MISSING
        value = self.variables[ref.name]
        if value is MISSING:
            self._missing_vars.add(ref.name)
        return value

    def finish(self) -> list[Diagnostic]:
        """All diagnostics, with one per unset environment variable naming every use."""
        for name, spans in self._unset_env.items():
            places = [str(s) for s in spans if s is not None]
            detail = "Used at:\n" + "\n".join(places) if len(places) > 1 else ""
            detail += (
                ("\n" if detail else "")
                + f"Set {name}, or write ${{env.{name}:-default}} to give a fallback."
            )
            self.diagnostics.append(Diagnostic.error(
                f'Environment variable "{name}" is not set', detail, span=spans[0],
            ))
        self._unset_env.clear()
        return self.diagnostics
