"""`provision plan`: show what apply would change; never writes the files it plans."""

from __future__ import annotations

from pathlib import Path

import click

from provision import api
from provision.cli._common import OrderedVarsCommand, output, var_args
from provision.cli._probes import planned
from provision.cli._workflow import lock_seconds, state_file, workflow_options
from provision.planfile import write_planfile
from provision.planview import plan_json, show_plan
from provision.probe.endpoints import plan_endpoints
from provision.probe.preflight import prefer_recorded_keys
from provision.state import fingerprint_key


@click.command("plan", cls=OrderedVarsCommand)
@workflow_options
@click.option("-out", "--out", "out_file", type=click.Path(path_type=Path),
              help="Save the plan (no secret values) for `apply FILE`.")
@click.option("-detailed-exitcode", "--detailed-exitcode", "detailed", is_flag=True,
              help="Exit 0 with no changes, 2 with changes, 1 on error.")
@click.option("-destroy", "--destroy", "destroy", is_flag=True,
              help="Plan to remove everything provision manages.")
@click.pass_context
def command(ctx: click.Context, spec_path: Path, vars_: tuple[str, ...],
            var_files: tuple[str, ...], as_json: bool, targets: tuple[str, ...],
            lock_timeout: str, state: Path | None, out_file: Path | None, detailed: bool,
            destroy: bool) -> int:
    """Compare the spec with the files on disk and the state; print what would change."""
    out = output(ctx)
    lock_seconds(lock_timeout)  # plan takes no lock, but a bad value is still a usage error
    args = var_args(ctx)
    plan = api.plan(spec_path, var_args=args, targets=targets, destroy=destroy, state=state)
    plan = prefer_recorded_keys(plan, state_file(spec_path, state).parent)
    if out_file is not None:
        key = fingerprint_key(state_file(spec_path, state).parent)
        write_planfile(out_file, plan, spec_path, args, key)
    coders, providers = ([], []) if destroy else plan_endpoints(plan)
    probes = [*coders, *providers]
    if as_json:
        doc = plan_json(plan)
        doc["probes"] = [{"address": e.address, "url": e.effective_base_url,
                          "recipe": e.recipe.name, "enabled": e.options.enabled,
                          "required": e.options.required}
                         for e in probes]
        out.json(doc)
    else:
        show_plan(plan, out)
        if plan.has_changes:
            planned(out, probes)
        if out_file is not None:
            out.out(f"\nSaved the plan to {out_file}. Apply exactly it with: "
                    f"provision apply {out_file}")
    return 2 if detailed and plan.has_changes else 0
