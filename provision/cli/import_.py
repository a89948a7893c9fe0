"""`provision import mux [PATH]`: adopt an existing providers.jsonc as a spec.

The spec goes to stdout (so `> spec.yaml` works) or to `-o FILE`; warnings and the list of
environment variables to set go to stderr, or to stdout when the spec went to a file. Only
variable names are printed, never a value.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from provision.cli._common import output
from provision.errors import ProvisionError
from provision.fsutil import atomic_write, create_exclusive
from provision.importer import import_mux

SPEC_MODE = 0o644  # a spec holds no secret: it is meant for version control


@click.group("import")
def command() -> None:
    """Write a spec that reproduces existing configuration."""


@command.command("mux")
@click.argument("path", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-o",
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the spec to FILE (*.yaml, mode 0644) instead of stdout.",
)
@click.option(
    "--deployment",
    default="default",
    show_default=True,
    metavar="NAME",
    help="Name of the deployment the entries go to.",
)
@click.option(
    "--target",
    "target",
    default="mux",
    show_default=True,
    metavar="NAME",
    help="Name of the mux_providers target.",
)
@click.option("--force", is_flag=True, help="Overwrite FILE when it exists.")
@click.pass_context
def mux(
    ctx: click.Context,
    path: Path | None,
    out_file: Path | None,
    deployment: str,
    target: str,
    force: bool,
) -> int:
    """Import Mux's providers.jsonc (PATH, default: Mux's own file) as a spec whose keys are
    read from environment variables; `plan` on it then shows no changes."""
    out = output(ctx)
    if out_file is not None and out_file.suffix not in (".yaml", ".yml"):
        raise click.BadParameter("the spec is YAML: name the file *.yaml", param_hint="-o")
    root = (out_file.parent if out_file is not None else Path()).absolute()
    result = import_mux(path, root=root, env=os.environ, deployment=deployment, target=target)
    out.diagnostics(result.warnings)
    if out_file is None:
        out.out(result.text.removesuffix("\n"))
        tell = out.err
    else:
        content = result.text.encode("utf-8")
        if force:
            atomic_write(out_file, content, SPEC_MODE)
        elif not create_exclusive(out_file, content, SPEC_MODE):
            raise ProvisionError(f"{out_file} exists; pass --force to overwrite it")
        tell = out.out
        tell(f"Wrote {out_file}.")
    total = len(result.imported) + len(result.left_out)
    tell(f"Imported {len(result.imported)} of {total} entries of {result.source}.")
    if result.env:
        width = max(len(e.name) for e in result.env)
        tell(f"Before plan or apply, set these variables to the values in {result.source}:")
        for e in result.env:
            tell(f"  {e.name.ljust(width)}  {', '.join(e.used_by)}")
    return 0
