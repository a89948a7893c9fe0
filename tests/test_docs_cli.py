"""docs/cli.md, docs/probes.md and docs/targets.md cannot drift from the code.

- every command of `provision.cli.cli` (walked recursively) is documented in docs/cli.md as
  `provision <command path>`, and every spelling of every option it takes appears there;
- every verdict in `provision.probe.Outcome` and every probe recipe of the catalog appears in
  docs/probes.md;
- every target type appears in docs/targets.md with a section of its own.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from provision.catalog import load_catalog
from provision.cli import cli
from provision.probe import Outcome
from provision.render import RENDERERS
from provision.spec.schema import TARGET_TYPES

DOCS = Path(__file__).resolve().parent.parent / "docs"
CLI_MD = (DOCS / "cli.md").read_text(encoding="utf-8")
PROBES_MD = (DOCS / "probes.md").read_text(encoding="utf-8")
TARGETS_MD = (DOCS / "targets.md").read_text(encoding="utf-8")


def commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under group, depth first, with its path of names below `provision`."""
    ctx = click.Context(group, info_name="provision")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


COMMANDS = list(commands(cli))
OPTIONS = [
    (path, param, spelling)
    for path, command in [((), cli), *COMMANDS]
    for param in command.params
    if isinstance(param, click.Option)
    for spelling in (*param.opts, *param.secondary_opts)
]


def mentioned(token: str, text: str) -> bool:
    """token as a whole word of the command line: `-var` does not count inside `-var-file`."""
    return re.search(rf"(?<![\w-]){re.escape(token)}(?![\w-])", text) is not None


def test_the_walk_finds_the_commands() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"validate", "plan", "apply", "destroy", "state", "state list", "import mux"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_is_documented(path: tuple[str, ...], command: click.Command) -> None:
    name = "provision " + " ".join(path)
    assert mentioned(name, CLI_MD), f"docs/cli.md does not document `{name}`"
    if not isinstance(command, click.Group):
        assert re.search(rf"^#+ `?{re.escape(name)}`?$", CLI_MD, re.MULTILINE), (
            f"docs/cli.md has no section headed `{name}`"
        )


@pytest.mark.parametrize(
    ("path", "param", "spelling"),
    OPTIONS,
    ids=[f"{' '.join(p) or 'provision'} {s}" for p, _, s in OPTIONS],
)
def test_every_option_spelling_is_documented(
    path: tuple[str, ...], param: click.Option, spelling: str
) -> None:
    assert mentioned(spelling, CLI_MD), (
        f"docs/cli.md does not mention {spelling} of `provision {' '.join(path)}`"
    )


@pytest.mark.parametrize(
    ("path", "param"),
    [(p, a) for p, c in COMMANDS for a in c.params if isinstance(a, click.Argument)],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else getattr(v, "name", str(v)),
)
def test_every_argument_is_documented(path: tuple[str, ...], param: click.Argument) -> None:
    metavar = param.human_readable_name.upper().rstrip(".")
    assert mentioned(metavar, CLI_MD), (
        f"docs/cli.md does not name argument {metavar} of `provision {' '.join(path)}`"
    )


def test_help_and_color_spellings_are_documented() -> None:
    ctx = click.Context(cli, info_name="provision")
    for spelling in cli.get_help_option_names(ctx):
        assert mentioned(spelling, CLI_MD), spelling
    assert "NO_COLOR" in CLI_MD


@pytest.mark.parametrize("code", ["0", "1", "2"])
def test_exit_codes_are_documented(code: str) -> None:
    assert re.search(rf"^\| `{code}` \|", CLI_MD, re.MULTILINE), f"exit code {code}"


@pytest.mark.parametrize("outcome", typing.get_args(Outcome))
def test_every_verdict_is_documented(outcome: str) -> None:
    assert re.search(rf"^\| `{re.escape(outcome)}` \|", PROBES_MD, re.MULTILINE), (
        f"docs/probes.md has no row for verdict `{outcome}`"
    )


@pytest.mark.parametrize("recipe", sorted(load_catalog().recipes))
def test_every_probe_recipe_is_documented(recipe: str) -> None:
    assert re.search(rf"^\| `{re.escape(recipe)}`", PROBES_MD, re.MULTILINE), (
        f"docs/probes.md has no row for recipe `{recipe}`"
    )


def test_target_types_agree() -> None:
    assert set(RENDERERS) == set(TARGET_TYPES)


@pytest.mark.parametrize("target_type", TARGET_TYPES)
def test_every_target_type_is_documented(target_type: str) -> None:
    assert re.search(rf"^## {re.escape(target_type)}$", TARGETS_MD, re.MULTILINE), (
        f"docs/targets.md has no section for target type `{target_type}`"
    )
