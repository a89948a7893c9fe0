"""`provision show [PLANFILE]`: the state, or a saved plan. Nothing shown holds a secret."""

from __future__ import annotations

from pathlib import Path

import click

from provision import api
from provision.cli._common import json_option, output, state_option
from provision.planfile import read_planfile
from provision.planview import SYMBOLS
from provision.state import load_state


@click.command("show")
@click.argument("planfile", required=False, type=click.Path(path_type=Path, exists=True,
                                                            dir_okay=False))
@click.option("-f", "--file", "spec_path", type=click.Path(path_type=Path), default=Path(),
              show_default=True, help="Spec file or directory (locates the state).")
@state_option
@json_option
@click.pass_context
def command(ctx: click.Context, planfile: Path | None, spec_path: Path, state: Path | None,
            as_json: bool) -> int:
    """Show the state, or the saved plan PLANFILE."""
    out = output(ctx)
    if planfile is not None:
        doc = read_planfile(planfile).doc["plan"]
        if as_json:
            out.json(doc)
            return 0
        for rc in doc["resource_changes"]:
            action = rc["change"]["actions"][0]
            if action != "no-op":
                out.out(f"  {SYMBOLS[action]} {rc['address']}  ({rc['path']})")
        s = doc["summary"]
        out.out(f"\nPlan: {s['add']} to add, {s['change']} to change, {s['destroy']} to "
                "destroy.")
        return 0
    current = load_state(api.state_file_for(spec_path, state))
    if as_json:
        out.json(current.to_json())
        return 0
    if not current.resources:
        out.out("The state is empty: provision manages nothing yet.")
        return 0
    for address, r in current.resources.items():
        out.out(f"# {address}")
        out.out(f"  path   = {r.path}")
        out.out(f"  mode   = {r.mode:04o}")
        out.out(f"  sha256 = {r.sha256}")
        if r.managed_keys is not None:
            out.out(f"  owns   = {', '.join(r.managed_keys) or '(nothing)'}")
        out.out("")
    return 0
