"""What plan, apply and destroy share: their options and the road from options to a Plan."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from provision import api
from provision.cli._common import json_option, spec_options, state_option
from provision.errors import ProvisionError

F = TypeVar("F", bound=Callable[..., Any])

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration as Terraform's -lock-timeout takes it: 30s, 5m, 1m30s, 0."""
    value = text.strip()
    if value == "0":
        return 0.0
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(
            f"invalid duration {text!r}: expected a number with a unit (ms, s, m, h), "
            "e.g. 30s, 5m or 1m30s"
        )
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def workflow_options(f: F) -> F:
    f = state_option(f)
    f = click.option("-target", "--target", "targets", multiple=True, metavar="ADDR",
                     help="Limit to this resource address; repeatable. For exceptional use.")(f)
    f = click.option("-lock-timeout", "--lock-timeout", "lock_timeout", default="0s",
                     show_default=True, metavar="DURATION",
                     help="How long to wait for the state lock (e.g. 30s, 2m).")(f)
    return json_option(spec_options(f))


def lock_seconds(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="-lock-timeout") from None


def state_file(spec_path: Path, state: Path | None) -> Path:
    return api.state_file_for(spec_path, state)


def confirm(prompt: str, *, auto_approve: bool, allow_input: bool) -> bool:
    """Terraform's rule: only 'yes' approves; with no TTY and no -auto-approve, refuse."""
    if auto_approve:
        return True
    if not allow_input or not sys.stdin.isatty():
        why = "-input=false forbids asking" if not allow_input else "no terminal to ask on"
        raise ProvisionError(
            f"Refusing to apply without approval: {why}. "
            "Run with -auto-approve, or apply a saved plan (plan -out FILE; apply FILE)."
        )
    click.echo(f"\n{prompt}\n  Only 'yes' will be accepted to approve.\n")
    answer = click.prompt("  Enter a value", default="", show_default=False)
    return bool(answer.strip() == "yes")
