"""The command line: a thin face over `provision.api`. One module per command.

Exit codes: 0 success (or no changes), 1 error, 2 changes present (plan -detailed-exitcode).
Usage errors exit 1 too, so that 2 always means "changes present".
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from provision.cli._app import cli
from provision.cli._errors import error_handler

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    with error_handler() as result:
        try:
            rv = cli.main(args=args, prog_name="provision", standalone_mode=False)
        except click.exceptions.Exit as exc:
            result.code = exc.exit_code
        else:
            result.code = rv if isinstance(rv, int) else 0
    return result.code
