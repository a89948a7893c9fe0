"""The command group. Commands live in their own modules and are attached here.

A command's module is imported only when that command runs (or when something asks the group
for it by name): `provision validate` need not import what apply, import or bridge-sim import.
The help listing takes each command's first help paragraph from `COMMANDS` (in
`provision.cli._options`), so `--help` imports none of them; a test checks that those paragraphs
are the commands' own. The completion module, which replaces click's fish class, is imported by
`main` when a shell asks for completions. A command declared as data (`_options.Command`) gets
its click face here, from the same declaration.
"""

from __future__ import annotations

from gettext import gettext as _

import click

from provision import __version__
from provision.cli._common import click_command
from provision.cli._options import COMMANDS, Command, load_command

CONTEXT = {"help_option_names": ["-h", "--help", "-help"], "max_content_width": 100}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            command = load_command(cmd_name)
            if isinstance(command, Command):
                command = click_command(command)
            assert isinstance(command, click.Command), cmd_name
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, with stand-ins carrying the help of commands not imported yet."""
        commands = [
            (name, self.commands.get(name) or click.Command(name, help=COMMANDS[name][2]))
            for name in self.list_commands(ctx)
        ]
        commands = [(name, cmd) for name, cmd in commands if not cmd.hidden]
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _cmd in commands)
            with formatter.section(_("Commands")):
                formatter.write_dl([(name, cmd.get_short_help_str(limit))
                                    for name, cmd in commands])


@click.group(cls=_LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-version", "--version", prog_name="provision")
@click.option("-no-color", "--no-color", "no_color", is_flag=True,
              help="Disable colour (also NO_COLOR=1).")
def cli(no_color: bool) -> None:
    """Declarative, verified LLM-provider setup for Coder AI Bridge and Mux."""
