"""`provision apply [PLANFILE]` and `provision destroy`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from provision import api
from provision.apply import Written, apply_plan, refuse_drift, refuse_symlinks
from provision.cli._common import OrderedVarsCommand, output, parallelism_option, var_args
from provision.cli._options import parse_duration
from provision.cli._probes import progress, table
from provision.cli._workflow import F, confirm, state_file, workflow_options
from provision.errors import Diagnostic, ProbeError
from provision.lock import StateLock
from provision.plan import Plan, make_plan
from provision.planfile import check_fresh, read_planfile
from provision.planview import plan_json, show_plan
from provision.probe import Verdict, health
from provision.probe.endpoints import plan_endpoints
from provision.probe.preflight import (
    chosen_keys,
    failed_required,
    prefer_recorded_keys,
    probe_endpoints,
    rotation_fingerprints,
    with_keys,
)
from provision.report import JSON_FORMAT_VERSION, Output
from provision.state import fingerprint_key, lock_path

DONE = {"create": "Creation complete", "update": "Modifications complete",
        "delete": "Destruction complete"}


def _apply_options(f: F) -> F:
    f = click.option("-auto-approve", "--auto-approve", "auto_approve", is_flag=True,
                     help="Do not ask for approval.")(f)
    f = click.option("-input", "--input", "allow_input", default=True, type=bool,
                     metavar="BOOL", help="-input=false never prompts (fails instead).")(f)
    f = click.option("-force", "--force", "force", is_flag=True,
                     help="Overwrite files changed outside provision.")(f)
    f = click.option("--backup", "backup", is_flag=True,
                     help="Keep each replaced file as <name>.<timestamp>~.")(f)
    f = click.option("-no-probe", "--no-probe", "no_probe", is_flag=True,
                     help="Skip the probes that verify endpoints before writing.")(f)
    return parallelism_option(workflow_options(f))


def run(ctx: click.Context, *, destroy: bool, spec_path: Path, planfile: Path | None,
        targets: tuple[str, ...], state: Path | None, lock_timeout: str, auto_approve: bool,
        allow_input: bool, force: bool, backup: bool, no_probe: bool = True,
        as_json: bool = False, parallelism: int = 16) -> int:
    machine = output(ctx)
    # With -json the people's text is not printed; one JSON document follows at the end.
    out = Output(stdout=io.StringIO(), stderr=machine.stderr) if as_json else machine
    verdicts: list[Verdict] = []
    written: list[Written] = []
    args = var_args(ctx)
    saved = read_planfile(planfile) if planfile is not None else None
    if saved is not None:
        if args or targets:
            raise click.UsageError("a saved plan carries its own -var and -target options")
        args, targets, destroy = saved.var_args, saved.targets, saved.destroy
        if ctx.get_parameter_source("spec_path") is ParameterSource.DEFAULT:
            spec_path = saved.spec_path
    state_file_ = state_file(spec_path, state)
    with StateLock(lock_path(state_file_), "destroy" if destroy else "apply",
                   timeout=parse_duration(lock_timeout)):  # checked by its option
        plan = api.plan(spec_path, var_args=args, targets=targets, destroy=destroy,
                        state=state)
        plan = prefer_recorded_keys(plan, state_file_.parent)
        if saved is not None:
            check_fresh(saved, plan, fingerprint_key(state_file_.parent))
        show_plan(plan, out)
        if not plan.has_changes:
            if as_json:
                machine.json(_result_json(plan, verdicts, written))
            return 0
        refuse_drift(plan, force=force)
        refuse_symlinks(plan)
        original = plan.spec
        if not no_probe and not destroy:
            plan = _preflight(out, plan, state_file_.parent, verdicts, parallelism)
        fingerprints = rotation_fingerprints(original, plan.spec, state_file_.parent)
        verb = "destroy everything provision manages" if destroy else "perform these actions"
        if saved is None and not confirm(f"Do you want to {verb}?", auto_approve=auto_approve,
                                         allow_input=allow_input):
            out.err("Apply cancelled.")
            return 1
        out.out("")
        result = apply_plan(plan, state_file_, force=force, backup=backup,
                            on_written=lambda w: _report(out, w, written),
                            key_fingerprints=fingerprints)
    _summary(out, plan, result.count("create"), result.count("update"),
             result.count("delete"), destroy)
    if as_json:
        machine.json(_result_json(plan, verdicts, written))
    return 0


def _result_json(plan: Plan, verdicts: list[Verdict], written: list[Written]) -> dict[str, Any]:
    return {
        "format_version": JSON_FORMAT_VERSION,
        "plan": plan_json(plan),
        "probes": [v.to_json() for v in verdicts],
        "applied": [{"address": w.change.address, "action": w.change.action,
                     "path": str(w.change.path),
                     "backup": None if w.backup is None else str(w.backup)} for w in written],
        "summary": {action: sum(w.change.action == verb for w in written)
                    for action, verb in (("added", "create"), ("changed", "update"),
                                         ("destroyed", "delete"))},
    }


def _preflight(out: Output, plan: Plan, state_dir: Path, seen: list[Verdict],
               parallelism: int) -> Plan:
    """Probe what would be written; a failed required probe stops apply before any write."""
    coders, providers = plan_endpoints(plan)
    if not coders and not providers:
        return plan
    tick = progress(out, len(coders) + len(providers))
    verdicts = probe_endpoints(coders, providers, on_result=tick, parallelism=parallelism)
    seen.extend(verdicts)
    health.append(state_dir, verdicts)
    out.out("")
    out.out("Probes:")
    table(out, verdicts)
    failed = failed_required(verdicts)
    if failed:
        lines = [f"{v.address}: {v.outcome.replace('_', ' ')} — {v.reason}"
                 + (f" ({v.hint})" if v.hint else "") for v in failed]
        raise ProbeError("Required probes failed", diagnostics=[Diagnostic.error(
            f"{len(failed)} required probe(s) failed; nothing was written",
            "\n".join(lines) + "\nFix the endpoint or credential, mark the probe "
            "`required: false`, or skip probes with --no-probe.")])
    keys = chosen_keys(verdicts)
    if keys:
        plan = make_plan(with_keys(plan.spec, keys), plan.state, targets=plan.targeted,
                         warnings=plan.warnings)
    return plan


def _report(out: Output, written: Written, log: list[Written]) -> None:
    log.append(written)
    c = written.change
    line = f"{c.address}: {DONE[c.action]} ({c.path})"
    if written.backup is not None:
        line += f"; previous kept as {written.backup.name}"
    out.out(line)


def _summary(out: Output, plan: Plan, added: int, changed: int, destroyed: int,
             destroy: bool) -> None:
    out.out("")
    word = "Destroy" if destroy else "Apply"
    out.out(out.style(f"{word} complete!", "green", "bold")
            + f" Resources: {added} added, {changed} changed, {destroyed} destroyed.")


@click.command("apply", cls=OrderedVarsCommand)
@click.argument("planfile", required=False, type=click.Path(path_type=Path, exists=True,
                                                            dir_okay=False))
@_apply_options
@click.pass_context
def command(ctx: click.Context, planfile: Path | None, spec_path: Path, vars_: tuple[str, ...],
            var_files: tuple[str, ...], as_json: bool, targets: tuple[str, ...],
            lock_timeout: str, state: Path | None, auto_approve: bool, allow_input: bool,
            force: bool, backup: bool, no_probe: bool, parallelism: int) -> int:
    """Write what the plan shows: probed first, atomically, under lock, recording state."""
    return run(ctx, destroy=False, spec_path=spec_path, planfile=planfile, targets=targets,
               state=state, lock_timeout=lock_timeout, auto_approve=auto_approve,
               allow_input=allow_input, force=force, backup=backup, no_probe=no_probe,
               as_json=as_json, parallelism=parallelism)


@click.command("destroy", cls=OrderedVarsCommand)
@_apply_options
@click.pass_context
def destroy_command(ctx: click.Context, spec_path: Path, vars_: tuple[str, ...],
                    var_files: tuple[str, ...], as_json: bool, targets: tuple[str, ...],
                    lock_timeout: str, state: Path | None, auto_approve: bool,
                    allow_input: bool, force: bool, backup: bool, no_probe: bool,
                    parallelism: int) -> int:
    """Remove what provision manages: its files, and only its own entries in shared files."""
    return run(ctx, destroy=True, spec_path=spec_path, planfile=None, targets=targets,
               state=state, lock_timeout=lock_timeout, auto_approve=auto_approve,
               allow_input=allow_input, force=force, backup=backup, no_probe=no_probe,
               as_json=as_json, parallelism=parallelism)
