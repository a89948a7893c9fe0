"""The command group. Commands live in their own modules and are attached here.

A command's module is imported only when that command runs (or when something asks the group
for it by name): `provision validate` need not import what apply, import or bridge-sim import.
The help listing takes each command's first help paragraph from `COMMANDS`, so `--help` imports
none of them; a test checks that those paragraphs are the commands' own. The completion module,
which replaces click's fish class, is imported by `main` when a shell asks for completions.
"""

from __future__ import annotations

import importlib
from gettext import gettext as _

import click

from provision import __version__

CONTEXT = {"help_option_names": ["-h", "--help", "-help"], "max_content_width": 100}

# name: (module under provision.cli, attribute, first paragraph of the command's help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("validate", "command",
                 "Check the spec: syntax, schema, references, catalog and Mux rules."),
    "plan": ("plan", "command", "Compare the spec with the files on disk and the state; "
                                "print what would change."),
    "apply": ("apply", "command", "Write what the plan shows: probed first, atomically, "
                                  "under lock, recording state."),
    "destroy": ("apply", "destroy_command", "Remove what provision manages: its files, and "
                                            "only its own entries in shared files."),
    "show": ("show", "command", "Show the state, or the saved plan PLANFILE."),
    "state": ("state", "command", "Inspect or edit the state (what provision last wrote)."),
    "force-unlock": ("force_unlock", "command",
                     "Remove the state lock held under LOCK_ID (only if that is its ID)."),
    "schema": ("schema", "command", "Print the JSON Schema (draft 2020-12) of spec files."),
    "providers": ("providers", "command", "List the providers provision knows: API kind, "
                                          "endpoint, env vars, how Mux holds them."),
    "bridge-sim": ("bridge_sim", "command", "Serve a stand-in Coder deployment with AI Bridge "
                                            "until SIGINT, SIGTERM or SIGHUP."),
    "probe": ("probe", "command", "Probe every endpoint with the values apply would write; "
                                  "exit 1 if a required one fails."),
    "health": ("health", "command", "Per endpoint: success rate over the rolling window, "
                                    "p50/p95 latency, last check."),
    "env": ("env", "command", 'Print export lines for eval "$(provision env -d DEPLOYMENT)".'),
    "import": ("import_", "command", "Write a spec that reproduces existing configuration."),
    "completion": ("completion", "command",
                   "Print the completion script for SHELL (bash, zsh or fish)."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute, _help = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(f"provision.cli.{module}"), attribute)
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
