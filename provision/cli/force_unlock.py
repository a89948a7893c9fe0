"""`provision force-unlock ID`: remove a state lock left behind."""

from __future__ import annotations

from pathlib import Path

import click

from provision import api
from provision.cli._common import output, state_option
from provision.lock import force_unlock
from provision.state import lock_path


@click.command("force-unlock")
@click.argument("lock_id")
@click.option("-f", "--file", "spec_path", type=click.Path(path_type=Path), default=Path(),
              show_default=True, help="Spec file or directory.")
@state_option
@click.pass_context
def command(ctx: click.Context, lock_id: str, spec_path: Path, state: Path | None) -> int:
    """Remove the state lock held under LOCK_ID (only if that is its ID)."""
    holder = force_unlock(lock_path(api.state_file_for(spec_path, state)), lock_id)
    output(ctx).out(f"provision state has been unlocked (was held by {holder.who} for "
                    f"{holder.operation}).")
    return 0
