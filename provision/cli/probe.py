"""`provision probe`: verify endpoints and credentials without writing anything."""

from __future__ import annotations

import time
from pathlib import Path

import click

from provision import api
from provision.cli._common import (
    OrderedVarsCommand,
    json_option,
    output,
    parallelism_option,
    spec_options,
    var_args,
)
from provision.cli._probes import progress, table
from provision.probe import Verdict, health
from provision.probe.endpoints import plan_endpoints
from provision.probe.preflight import failed_required, prefer_recorded_keys, probe_endpoints


@click.command("probe", cls=OrderedVarsCommand)
@spec_options
@json_option
@click.option("-d", "--deployment", "deployments", multiple=True,
              help="Only this deployment; repeatable (default: every deployment a target uses).")
@click.option("--repeat", type=click.IntRange(1, 10_000), default=1, show_default=True,
              help="Probe this many times.")
@click.option("--interval", type=click.FloatRange(0, 3600), default=5.0, show_default=True,
              help="Seconds between repeats.")
@click.option("-state", "--state", "state", type=click.Path(path_type=Path),
              help="State file; the health history is kept beside it.")
@parallelism_option
@click.pass_context
def command(ctx: click.Context, spec_path: Path, vars_: tuple[str, ...],
            var_files: tuple[str, ...], as_json: bool, deployments: tuple[str, ...],
            repeat: int, interval: float, state: Path | None, parallelism: int) -> int:
    """Probe every endpoint with the values apply would write; exit 1 if a required one fails."""
    out = output(ctx)
    state_dir = api.state_file_for(spec_path, state).parent
    plan = prefer_recorded_keys(api.plan(spec_path, var_args=var_args(ctx), state=state),
                                state_dir)
    for name in deployments:
        if name not in plan.spec.deployments:
            raise click.BadParameter(f'no deployment "{name}"', param_hint="-d")
    coders, providers = plan_endpoints(plan, deployments or None)
    runs: list[list[Verdict]] = []
    for i in range(repeat):
        if i:
            time.sleep(interval)
        tick = None if as_json else progress(out, len(coders) + len(providers))
        verdicts = probe_endpoints(coders, providers, on_result=tick, parallelism=parallelism)
        health.append(state_dir, verdicts)
        runs.append(verdicts)
        if not as_json:
            if repeat > 1:
                out.out(f"Run {i + 1} of {repeat}:")
            table(out, verdicts)
    failed = failed_required(runs[-1])
    if as_json:
        out.json({"format_version": "1.0", "runs": [[v.to_json() for v in r] for r in runs],
                  "passed": not failed})
    elif failed:
        out.err(f"\n{len(failed)} required probe(s) failed.")
    return 1 if failed else 0
