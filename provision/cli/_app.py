"""The command group. Commands live in their own modules and are attached here."""

from __future__ import annotations

import click

from provision import __version__
from provision.cli import (
    apply,
    bridge_sim,
    env,
    force_unlock,
    health,
    import_,
    plan,
    probe,
    providers,
    schema,
    show,
    state,
    validate,
)

CONTEXT = {"help_option_names": ["-h", "--help", "-help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-version", "--version", prog_name="provision")
@click.option("-no-color", "--no-color", "no_color", is_flag=True,
              help="Disable colour (also NO_COLOR=1).")
def cli(no_color: bool) -> None:
    """Declarative, verified LLM-provider setup for Coder AI Bridge and Mux."""


for command in (validate.command, plan.command, apply.command, apply.destroy_command,
                show.command, state.command, force_unlock.command, schema.command,
                providers.command, bridge_sim.command, probe.command,
                health.command, env.command, import_.command):
    cli.add_command(command)
