"""`provision validate`: check the spec; reads no secrets."""

from __future__ import annotations

from pathlib import Path

from provision import api
from provision.cli._options import JSON, SPEC_OPTIONS, Command
from provision.errors import DiagnosticsError
from provision.report import Output, diagnostics_json
from provision.spec.variables import VarArg


def _validate(out: Output, var_args: tuple[VarArg, ...], *, spec_path: Path, as_json: bool,
              **_options: object) -> int:
    try:
        diags = api.load_spec(spec_path, var_args=var_args, read_secrets=False).warnings
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


command = Command(
    name="validate",
    help="Check the spec: syntax, schema, references, catalog and Mux rules.",
    options=(*SPEC_OPTIONS, JSON),
    run=_validate,
)
