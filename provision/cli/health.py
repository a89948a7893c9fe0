"""`provision health`: success rate and latency per endpoint from the probe history."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from provision import api
from provision.cli._common import json_option, output
from provision.probe import health


@click.command("health")
@click.option("-f", "--file", "spec_path", type=click.Path(path_type=Path), default=Path(),
              show_default=True, help="Spec file or directory (locates the history).")
@click.option("-state", "--state", "state", type=click.Path(path_type=Path),
              help="State file; the health history is read from beside it.")
@click.option("--window", type=click.IntRange(1, 1000), default=health.WINDOW, show_default=True,
              help="Checks per endpoint in the rolling window.")
@json_option
@click.pass_context
def command(ctx: click.Context, spec_path: Path, state: Path | None, window: int,
            as_json: bool) -> int:
    """Per endpoint: success rate over the rolling window, p50/p95 latency, last check."""
    out = output(ctx)
    history = health.read(api.state_file_for(spec_path, state).parent)
    out.diagnostics(history.warnings)
    rows = health.summary(history.records, window)
    if as_json:
        out.json({"format_version": "1.0", "window": window, "endpoints": rows})
        return 0
    if not rows:
        out.out("No probe history yet: run `provision probe` (or apply).")
        return 0
    header = ("ADDRESS", "SUCCESS", "CHECKS", "P50", "P95", "LAST CHECK", "LAST VERDICT")
    lines = [header]
    for r in rows:
        lines.append((
            r["address"], f"{r['success_rate']:.0%}", str(r["checks"]), _ms(r["p50_ms"]),
            _ms(r["p95_ms"]),
            datetime.fromtimestamp(r["last_checked"]).astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            f"{r['last_outcome']} ({r['last_status'] or '-'})",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        out.out("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    return 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
