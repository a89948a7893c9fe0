"""`provision state list | show ADDR | rm ADDR`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from provision import api
from provision.cli._common import output, state_option
from provision.errors import StateError
from provision.lock import StateLock
from provision.state import load_state, lock_path, save_state, without_resource

_spec = click.option("-f", "--file", "spec_path", type=click.Path(path_type=Path),
                     default=Path(), show_default=True, help="Spec file or directory.")


@click.group("state")
def command() -> None:
    """Inspect or edit the state (what provision last wrote)."""


@command.command("list")
@_spec
@state_option
@click.pass_context
def list_(ctx: click.Context, spec_path: Path, state: Path | None) -> int:
    """List the addresses provision manages."""
    out = output(ctx)
    for address in load_state(api.state_file_for(spec_path, state)).resources:
        out.out(address)
    return 0


@command.command("show")
@click.argument("address")
@_spec
@state_option
@click.pass_context
def show(ctx: click.Context, address: str, spec_path: Path, state: Path | None) -> int:
    """Show one resource's state."""
    current = load_state(api.state_file_for(spec_path, state))
    resource = current.resources.get(address)
    if resource is None:
        raise StateError(f'No resource "{address}" in the state')
    output(ctx).out(json.dumps({address: resource.to_json()}, indent=2))
    return 0


@command.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@_spec
@state_option
@click.pass_context
def rm(ctx: click.Context, addresses: tuple[str, ...], spec_path: Path,
       state: Path | None) -> int:
    """Forget resources without touching their files."""
    path = api.state_file_for(spec_path, state)
    with StateLock(lock_path(path), "state rm"):
        current = load_state(path)
        for address in addresses:
            if address not in current.resources:
                raise StateError(f'No resource "{address}" in the state')
            current = without_resource(current, address)
        save_state(path, current)
    for address in addresses:
        output(ctx).out(f"Removed {address}")
    return 0
