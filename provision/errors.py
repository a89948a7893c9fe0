"""Diagnostics and the project's exception tree.

    ProvisionError                 anything provision reports to a user (exit 1)
     ├── DiagnosticsError          one or more Diagnostics (spec, render, plan problems)
     ├── StateError                state file unreadable, lineage/serial mismatch
     ├── LockError                 the state or Mux lock is held by someone else
     ├── ApplyError                a write failed or was refused
     └── ProbeError                a required probe failed

Every user-facing problem is a Diagnostic: severity, summary, detail and, where known, the
1-based file/line/column range of the offending node. The core never prints; the CLI renders.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

from provision.record import record


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@record(kw_only=False)
class Span:
    """A 1-based, end-inclusive-start / end-exclusive range in one source file."""

    filename: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.column}"


@record
class Diagnostic:
    """One problem to report: severity, a one-line summary, optional detail, and where
    in a source file when that is known."""

    severity: Severity
    summary: str
    detail: str = ""
    span: Span | None = None

    @classmethod
    def error(cls, summary: str, detail: str = "", span: Span | None = None) -> Diagnostic:
        return cls(severity=Severity.ERROR, summary=summary, detail=detail, span=span)

    @classmethod
    def warning(cls, summary: str, detail: str = "", span: Span | None = None) -> Diagnostic:
        return cls(severity=Severity.WARNING, summary=summary, detail=detail, span=span)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def format(self) -> str:
        where = f"{self.span}: " if self.span else ""
        text = f"{where}{self.severity.value}: {self.summary}"
        if self.detail:
            text += "\n" + "\n".join(f"  {line}" for line in self.detail.splitlines())
        return text

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "severity": self.severity.value,
            "summary": self.summary,
            "detail": self.detail,
        }
        if self.span is not None:
            s = self.span
            out["range"] = {
                "filename": s.filename,
                "start": {"line": s.line, "column": s.column},
                "end": {"line": s.end_line, "column": s.end_column},
            }
        return out


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    if d.span is None:
        return ("", 0, 0, d.summary)
    return (d.span.filename, d.span.line, d.span.column, d.summary)


class ProvisionError(Exception):
    """Base of every error provision reports to a user. Its text is safe to print."""

    def __init__(self, message: str, *, diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics) or (
            Diagnostic.error(message),
        )


class DiagnosticsError(ProvisionError):
    """Raised when a stage produced at least one error diagnostic."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        diags = tuple(sorted(diagnostics, key=sort_key))
        errors = [d for d in diags if d.is_error]
        first = errors[0] if errors else diags[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first.summary + more, diagnostics=diags)


class StateError(ProvisionError):
    pass


class LockError(ProvisionError):
    pass


class ApplyError(ProvisionError):
    pass


class ProbeError(ProvisionError):
    pass


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like word, for a "Did you mean" hint; None when none is close
    (difflib's ratio under 0.6)."""
    import difflib  # only on the way to an error message: no clean run needs it

    matches = difflib.get_close_matches(word, list(candidates), n=1)
    return matches[0] if matches else None


def raise_if_errors(diagnostics: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    """Return the diagnostics unchanged when none is an error; raise otherwise."""
    diags = tuple(diagnostics)
    if any(d.is_error for d in diags):
        raise DiagnosticsError(diags)
    return diags
