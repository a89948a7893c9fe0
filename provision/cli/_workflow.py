"""What apply and destroy share: their options and the road from options to a Plan."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from provision import api
from provision.cli._common import options
from provision.cli._options import WORKFLOW_OPTIONS
from provision.errors import ProvisionError

F = TypeVar("F", bound=Callable[..., Any])

workflow_options = options(*WORKFLOW_OPTIONS)


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
