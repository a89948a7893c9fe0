"""The command line: a thin face over `provision.api`. One module per command.

Exit codes: 0 success (or no changes), 1 error, 2 changes present (plan -detailed-exitcode).
Usage errors exit 1 too, so that 2 always means "changes present".

A command declared as data (`provision.cli._options.Command`: validate, plan and env) runs
without importing click when `_options.parse` reads its command line; click reads every other
line, and writes all help, completion and usage errors.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from provision.cli._errors import error_handler
from provision.cli._options import COMMANDS, Command, load_command, parse
from provision.report import Output

if TYPE_CHECKING:
    import click

    cli: click.Group  # provided by __getattr__

__all__ = ["cli", "main", "run"]


NO_COLOR_FLAGS = ("-no-color", "--no-color")


def __getattr__(name: str) -> Any:
    if name == "cli":  # the click group, imported when asked for: a parsed command needs none
        from provision.cli._app import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> NoReturn:
    """The console script: main, then end the process without the interpreter's teardown.

    By then every file provision wrote is closed (writes are atomic renames) and the command's
    output is flushed here; what teardown would add is freeing every object and module one by
    one, a tenth of a short command's wall time. A failed flush (a closed pipe) exits 1.

    The cyclic garbage collector runs every 200,000 allocations instead of every 700, as mypy
    sets it: a command allocates most of its objects for good while importing, and a plan
    scanned them about forty times over, a tenth of its wall time. A long run still collects.
    """
    gc.set_threshold(200_000, 30, 30)
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
        completing = "_PROVISION_COMPLETE" in os.environ
        parsed = None if completing else _parsed(args, no_color)
        if parsed is not None:
            result.code = parsed()
        else:
            result.code = _click_main(args, no_color, completing)
    return result.code


def _parsed(args: list[str], no_color: bool) -> Callable[[], int] | None:
    """The run of a data-declared command whose command line `parse` reads; None otherwise."""
    if not args or args[0] not in COMMANDS:
        return None
    command = load_command(args[0])
    if not isinstance(command, Command):
        return None
    read = parse(args[1:], command.options)
    if read is None:
        return None
    values, var_args = read
    return lambda: command.run(Output(no_color=no_color), var_args, **values)


def _click_main(args: list[str], no_color: bool, completing: bool) -> int:
    import click

    from provision.cli._app import cli

    if completing:
        from provision.cli import completion  # noqa: F401 - its fish class answers fish
    elif not args:  # usage, not an error
        click.echo(cli.get_help(click.Context(cli, info_name="provision")))
        return 1
    try:
        rv = cli.main(args=args, prog_name="provision", standalone_mode=False,
                      obj={"no_color": no_color})
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return rv if isinstance(rv, int) else 0

