"""Options shared by commands, in Terraform's spelling (-json, -var, -var-file, -no-color)
with GNU-style aliases (--json, ...), and the click face of the options declared as data in
`provision.cli._options`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from provision.cli._options import (
    FLAG,
    JSON,
    MULTIPLE,
    SPEC_OPTIONS,
    STATE,
    Command,
    Opt,
    var_order,
)
from provision.report import Output
from provision.spec.variables import VarArg

F = TypeVar("F", bound=Callable[..., Any])


class OrderedVarsCommand(click.Command):
    """Keeps -var and -var-file in command-line order: later wins, as in Terraform."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {name for p in self.params if isinstance(p, click.Option) and not p.is_flag
                       for name in (*p.opts, *p.secondary_opts)}
        ctx.meta["provision.var_args"] = var_order(args, takes_value.__contains__)
        return super().parse_args(ctx, args)


def var_args(ctx: click.Context) -> tuple[VarArg, ...]:
    return tuple(ctx.meta.get("provision.var_args", ()))


def _declaration(opt: Opt) -> tuple[list[str], dict[str, Any]]:
    # Only what differs from click's defaults: an explicit is_flag=False, for one, makes click
    # read `-var -json` as -var without a value.
    kwargs: dict[str, Any] = {"help": opt.help}
    if opt.kind == FLAG:
        kwargs["is_flag"] = True
    if opt.kind == MULTIPLE:
        kwargs["multiple"] = True
    if opt.show_default:
        kwargs["show_default"] = True
    if opt.required:
        kwargs["required"] = True
    if opt.metavar is not None:
        kwargs["metavar"] = opt.metavar
    if opt.path:
        kwargs["type"] = click.Path(path_type=Path)
    if opt.choices is not None:
        kwargs["type"] = click.Choice(opt.choices)
    if opt.default is not None:
        kwargs["default"] = opt.default
    if opt.check is not None:
        kwargs["callback"] = _checked(opt.check, opt.names[0])
    return [*opt.names, opt.dest], kwargs


def _checked(check: Callable[[str], object], hint: str) -> Callable[..., Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        try:
            check(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param_hint=hint) from None
        return value

    return callback


def options(*opts: Opt) -> Callable[[F], F]:
    """A decorator adding opts to a click command, shown in help in the order given."""

    def decorate(f: F) -> F:
        for opt in reversed(opts):
            decls, kwargs = _declaration(opt)
            f = click.option(*decls, **kwargs)(f)
        return f

    return decorate


spec_options = options(*SPEC_OPTIONS)
json_option = options(JSON)
state_option = options(STATE)


def click_command(command: Command) -> click.Command:
    """The click face of a command declared as data: click's help, completion and errors,
    running the same function as the command line `_options.parse` reads."""

    @click.pass_context
    def callback(ctx: click.Context, /, **values: Any) -> int:
        return command.run(output(ctx), var_args(ctx), **values)

    params: list[click.Parameter] = []
    for opt in command.options:
        decls, kwargs = _declaration(opt)
        params.append(click.Option(decls, **kwargs))
    return OrderedVarsCommand(command.name, params=params, callback=callback, help=command.help)


def output(ctx: click.Context) -> Output:
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    return Output(no_color=bool(root.params.get("no_color") or obj.get("no_color")))


def parallelism_option(f: F) -> F:
    return click.option("-parallelism", "--parallelism", "parallelism", default=16,
                        show_default=True, type=click.IntRange(1, 1024), metavar="N",
                        help="How many endpoints to probe at once.")(f)
