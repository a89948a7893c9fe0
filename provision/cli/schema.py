"""`provision schema`: print the spec's JSON Schema for editors."""

from __future__ import annotations

import json

import click

from provision.spec.schema import module_schema, spec_schema


@click.command("schema")
@click.option("--module", "for_module", is_flag=True, help="The schema of module.yaml instead.")
def command(for_module: bool) -> int:
    """Print the JSON Schema (draft 2020-12) of spec files."""
    schema = module_schema() if for_module else spec_schema()
    click.echo(json.dumps(schema, indent=2))
    return 0
