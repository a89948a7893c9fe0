"""Output for people and machines. Every byte provision prints passes through here, where known
secret values are masked by value as a last line of defence."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from provision.errors import Diagnostic, sort_key
from provision.secrets import REDACTOR, mask

JSON_FORMAT_VERSION = "1.0"

_COLORS = {"red": "31", "yellow": "33", "green": "32", "bold": "1", "dim": "2", "cyan": "36"}


def color_enabled(stream: TextIO, no_color: bool = False) -> bool:
    if no_color or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


class Output:
    def __init__(self, *, no_color: bool = False, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.color = color_enabled(self.stdout, no_color)
        self.err_color = color_enabled(self.stderr, no_color)

    def style(self, text: str, *names: str, err: bool = False) -> str:
        if not (self.err_color if err else self.color):
            return text
        codes = ";".join(_COLORS[n] for n in names)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def out(self, text: str = "") -> None:
        self.stdout.write(REDACTOR.redact(text) + "\n")
        self.stdout.flush()

    def err(self, text: str = "") -> None:
        self.stderr.write(REDACTOR.redact(text) + "\n")
        self.stderr.flush()

    def json(self, document: Any) -> None:
        self.out(json.dumps(mask(document), indent=2, ensure_ascii=False))

    def diagnostics(self, diags: Iterable[Diagnostic], *, err: bool = True) -> None:
        write = self.err if err else self.out
        for d in sorted(diags, key=sort_key):
            color = "red" if d.is_error else "yellow"
            where = f"{d.span}: " if d.span else ""
            head = self.style(f"{d.severity.value}:", color, "bold", err=err)
            write(f"{where}{head} {d.summary}")
            for line in d.detail.splitlines():
                write(f"  {line}")


def diagnostics_json(diags: Iterable[Diagnostic]) -> dict[str, Any]:
    ds = sorted(diags, key=sort_key)
    errors = sum(d.is_error for d in ds)
    return {
        "format_version": JSON_FORMAT_VERSION,
        "valid": errors == 0,
        "error_count": errors,
        "warning_count": len(ds) - errors,
        "diagnostics": [d.to_json() for d in ds],
    }
