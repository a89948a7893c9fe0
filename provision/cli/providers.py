"""`provision providers`: list the provider catalog."""

from __future__ import annotations

import click

from provision.catalog import load_catalog
from provision.cli._common import json_option, output


@click.command("providers")
@json_option
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> int:
    """List the providers provision knows: API kind, endpoint, env vars, how Mux holds them."""
    out = output(ctx)
    catalog = load_catalog()
    if as_json:
        out.json({"format_version": "1.0", "providers": catalog.to_json()})
        return 0
    rows = [("ID", "API", "MUX", "KEY ENV", "BASE URL")]
    for e in catalog.entries:
        mux = e.mux if e.mux != "builtin" or e.mux_id == e.id else f"builtin:{e.mux_id}"
        rows.append((e.id, e.api, mux, ",".join(e.key_env) or "-", e.base_url or "(required)"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        out.out("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return 0
