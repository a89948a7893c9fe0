"""`provision plan`: show what apply would change; never writes the files it plans."""

from __future__ import annotations

from pathlib import Path

from provision import api
from provision.cli._options import FLAG, WORKFLOW_OPTIONS, Command, Opt
from provision.cli._probes import planned
from provision.planview import plan_json, show_plan
from provision.probe.endpoints import plan_endpoints
from provision.probe.preflight import prefer_recorded_keys
from provision.report import Output
from provision.spec.variables import VarArg
from provision.state import fingerprint_key


def _plan(out: Output, var_args: tuple[VarArg, ...], *, spec_path: Path, as_json: bool,
          targets: tuple[str, ...], state: Path | None, out_file: Path | None, detailed: bool,
          destroy: bool, **_options: object) -> int:
    # plan takes no state lock: -lock-timeout is accepted for Terraform's sake, and checked.
    plan = api.plan(spec_path, var_args=var_args, targets=targets, destroy=destroy, state=state)
    state_dir = api.state_file_for(spec_path, state).parent
    plan = prefer_recorded_keys(plan, state_dir)
    if out_file is not None:
        from provision.planfile import write_planfile  # its schema checker: only for -out

        write_planfile(out_file, plan, spec_path, var_args, fingerprint_key(state_dir))
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


command = Command(
    name="plan",
    help="Compare the spec with the files on disk and the state; print what would change.",
    options=(
        *WORKFLOW_OPTIONS,
        Opt(("-out", "--out"), "out_file", "Save the plan (no secret values) for `apply FILE`.",
            path=True),
        Opt(("-detailed-exitcode", "--detailed-exitcode"), "detailed",
            "Exit 0 with no changes, 2 with changes, 1 on error.", kind=FLAG),
        Opt(("-destroy", "--destroy"), "destroy",
            "Plan to remove everything provision manages.", kind=FLAG),
    ),
    run=_plan,
)
