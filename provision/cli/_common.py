"""Options shared by commands, in Terraform's spelling (-json, -var, -var-file, -no-color)
with GNU-style aliases (--json, ...)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from provision.report import Output
from provision.spec.variables import VarArg

F = TypeVar("F", bound=Callable[..., Any])

VAR_FLAGS = {"-var": "var", "--var": "var", "-var-file": "file", "--var-file": "file"}


class OrderedVarsCommand(click.Command):
    """Keeps -var and -var-file in command-line order: later wins, as in Terraform."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        order: list[VarArg] = []
        it = iter(args)
        for arg in it:
            if arg == "--":
                break
            flag, eq, value = arg.partition("=")
            if flag in VAR_FLAGS:
                if not eq:
                    value = next(it, "")
                order.append(VarArg(VAR_FLAGS[flag], value))
        ctx.meta["provision.var_args"] = order
        return super().parse_args(ctx, args)


def var_args(ctx: click.Context) -> tuple[VarArg, ...]:
    return tuple(ctx.meta.get("provision.var_args", ()))


def spec_options(f: F) -> F:
    f = click.option("-var-file", "--var-file", "var_files", multiple=True, metavar="FILE",
                     help="Variables file (YAML or JSON5); repeatable, later wins.")(f)
    f = click.option("-var", "--var", "vars_", multiple=True, metavar="NAME=VALUE",
                     help="Set a variable; repeatable, later wins.")(f)
    return click.option("-f", "--file", "spec_path", type=click.Path(path_type=Path),
                        default=Path(), show_default=True,
                        help="Spec file or directory of spec files.")(f)


def json_option(f: F) -> F:
    return click.option("-json", "--json", "as_json", is_flag=True,
                        help="Machine-readable JSON output.")(f)


def state_option(f: F) -> F:
    return click.option("-state", "--state", "state", type=click.Path(path_type=Path),
                        help="State file (default: .provision/state.json beside the spec).")(f)


def output(ctx: click.Context) -> Output:
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    return Output(no_color=bool(root.params.get("no_color") or obj.get("no_color")))


def parallelism_option(f: F) -> F:
    return click.option("-parallelism", "--parallelism", "parallelism", default=16,
                        show_default=True, type=click.IntRange(1, 1024), metavar="N",
                        help="How many endpoints to probe at once.")(f)
