"""The command group imports a command's module only when that command is wanted; its help
listing comes from `COMMANDS` and must say exactly what the commands themselves say."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from provision.cli._app import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_listed_help_is_the_commands_own(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert not command.hidden
    assert (command.help or "").split("\n\n")[0] == COMMANDS[name][2]


@pytest.mark.parametrize("width", [60, 80, 100])
def test_help_is_the_same_before_and_after_loading(width: int) -> None:
    script = (
        "import click\nfrom provision.cli._app import cli\n"
        f"ctx = click.Context(cli, info_name='provision', terminal_width={width})\n"
        "lazy = cli.get_help(ctx)\n"
        "for name in cli.list_commands(ctx):\n    cli.get_command(ctx, name)\n"
        "print(lazy == cli.get_help(ctx), sorted(cli.commands) == cli.list_commands(ctx))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    assert proc.stdout.split() == ["True", "True"]


def test_running_a_command_imports_only_its_module() -> None:
    script = (
        "import json, sys\nfrom provision.cli import main\nmain(['schema'])\n"
        "print(json.dumps([m for m in sys.modules if m.startswith('provision.cli.')]), "
        "file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    loaded = {m.rsplit(".", 1)[1] for m in json.loads(proc.stderr.strip().splitlines()[-1])}
    assert "schema" in loaded
    assert not loaded & {"apply", "plan", "import_", "bridge_sim", "env", "probe"}
