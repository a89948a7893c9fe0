"""`provision validate`: check the spec; reads no secrets."""

from __future__ import annotations

from pathlib import Path

import click

from provision import api
from provision.cli._common import OrderedVarsCommand, json_option, output, spec_options, var_args
from provision.errors import DiagnosticsError
from provision.report import diagnostics_json


@click.command("validate", cls=OrderedVarsCommand)
@spec_options
@json_option
@click.pass_context
def command(ctx: click.Context, spec_path: Path, vars_: tuple[str, ...],
            var_files: tuple[str, ...], as_json: bool) -> int:
    """Check the spec: syntax, schema, references, catalog and Mux rules."""
    out = output(ctx)
    try:
        diags = api.load_spec(spec_path, var_args=var_args(ctx), read_secrets=False).warnings
    except DiagnosticsError as exc:
        diags = exc.diagnostics
    report = diagnostics_json(diags)
    if as_json:
        out.json(report)
    else:
        out.diagnostics(diags)
        if report["valid"]:
            out.out(out.style("Success!", "green", "bold") + " The spec is valid.")
    return 0 if report["valid"] else 1
