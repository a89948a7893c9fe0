"""The command line: a thin face over `provision.api`. One module per command.

Exit codes: 0 success (or no changes), 1 error, 2 changes present (plan -detailed-exitcode).
Usage errors exit 1 too, so that 2 always means "changes present".
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import click

from provision.cli._app import cli
from provision.cli._errors import error_handler

__all__ = ["cli", "main", "run"]


NO_COLOR_FLAGS = ("-no-color", "--no-color")


def run() -> NoReturn:
    """The console script: main, then end the process without the interpreter's teardown.

    By then every file provision wrote is closed (writes are atomic renames) and the command's
    output is flushed here; what teardown would add is freeing every object and module one by
    one, a tenth of a short command's wall time. A failed flush (a closed pipe) exits 1.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            code = code or 1
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # Terraform users write -no-color after the command; accept it anywhere before "--".
    end = args.index("--") if "--" in args else len(args)
    no_color = any(a in NO_COLOR_FLAGS for a in args[:end])
    args = [a for a in args[:end] if a not in NO_COLOR_FLAGS] + args[end:]
    with error_handler(no_color=no_color) as result:
        # Shell completion calls provision with no arguments and its request in the env.
        if "_PROVISION_COMPLETE" in os.environ:
            from provision.cli import completion  # noqa: F401 - its fish class answers fish
        elif not args:  # usage, not an error
            click.echo(cli.get_help(click.Context(cli, info_name="provision")))
            return 1
        try:
            rv = cli.main(args=args, prog_name="provision", standalone_mode=False,
                          obj={"no_color": no_color})
        except click.exceptions.Exit as exc:
            result.code = exc.exit_code
        else:
            result.code = rv if isinstance(rv, int) else 0
    return result.code
