"""Apply a plan: refuse what is unsafe, preflight, write atomically, record state.

Order of work (the caller holds the state lock):
    refuse drift (unless force) and symbolic links → preflight hook (probes) → per change, under
    Mux's own lock for providers.jsonc: re-read, check unchanged since the plan, write
    atomically → state, saved even when a later write fails, for exactly what was written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from provision.errors import ApplyError, Diagnostic
from provision.fsutil import atomic_remove, atomic_write, sha256_bytes
from provision.lock import MuxLock
from provision.plan import Change, Plan, owned_digest, read_current, render_target
from provision.record import field, record, replace
from provision.state import ResourceState, State, save_state, with_resource, without_resource

Preflight = Callable[[Plan], None]


@record
class Written:
    change: Change
    backup: Path | None = None


@record(frozen=False)
class ApplyResult:
    state: State
    written: list[Written] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(w.change.action == action for w in self.written)


def refuse_drift(plan: Plan, *, force: bool) -> None:
    drifted = [c for c in plan.changes if c.drift and c.action != "no-op" and c.current]
    if drifted and not force:
        lines = [f"{c.address} ({c.path}): {c.drift_reason}" for c in drifted]
        raise ApplyError("Files changed outside provision", diagnostics=[Diagnostic.error(
            "Refusing to overwrite files changed outside provision",
            "\n".join(lines) + "\nReview the plan's diff, then re-run with --force to overwrite, "
            "or copy the changes into the spec.",
        )])


def refuse_symlinks(plan: Plan) -> None:
    """Checked before anything is written, so a link met half-way never leaves a partial apply."""
    linked = [c for c in plan.changes if c.action in ("create", "update") and not
              c.follow_symlinks and c.path.is_symlink()]
    if linked:
        raise ApplyError("Refusing to write through symbolic links", diagnostics=[
            Diagnostic.error(
                "Refusing to write through symbolic links; nothing was written",
                "\n".join(f"{c.address}: {c.path} points to {c.path.readlink()}"
                          for c in linked)
                + "\nSet follow_symlinks: true on the target to write to the link's "
                "destination, or replace the link with a regular file.",
            )])


def apply_plan(plan: Plan, state_file: Path, *, force: bool = False, backup: bool = False,
               preflight: Preflight | None = None,
               on_written: Callable[[Written], None] | None = None,
               key_fingerprints: Mapping[str, str] | None = None) -> ApplyResult:
    """Write every pending change. `key_fingerprints` (provider address → fingerprint) records
    in state which rotation candidate each written file holds, never the key itself."""
    refuse_drift(plan, force=force)
    refuse_symlinks(plan)
    if preflight is not None:
        preflight(plan)
    result = ApplyResult(state=plan.state)
    pending = [c for c in plan.changes if c.action != "no-op"]
    try:
        for change in pending:
            written = _apply_one(plan, change, backup=backup)
            result.state = _record(result.state, change, written.change,
                                   _fingerprints(plan, change, key_fingerprints or {}))
            result.written.append(written)
            if on_written is not None:
                on_written(written)
    finally:
        if result.written:
            result.state = save_state(state_file, result.state)
    return result


def _apply_one(plan: Plan, change: Change, *, backup: bool) -> Written:
    if change.managed_keys is not None:
        with MuxLock(change.path):
            return _write_merged(plan, change, backup=backup)
    _check_unchanged(change)
    if change.artifact is None:
        atomic_remove(change.path)
        return Written(change=change)
    saved = atomic_write(change.path, change.artifact.content, change.artifact.mode,
                         follow_symlinks=change.follow_symlinks, backup=backup)
    return Written(change=change, backup=saved)


def _write_merged(plan: Plan, change: Change, *, backup: bool) -> Written:
    """Under Mux's lock: re-read and re-render, so entries Mux's settings UI changed since the
    plan are kept, while a change to provision's own entries since the plan is refused."""
    current, _ = read_current(change.path)
    owned = (*(change.managed_keys or ()), *change.stale_keys)
    if current is not None and change.current is not None:
        from provision.render.mux import parse_existing

        if owned_digest(parse_existing(current), owned) != owned_digest(
                parse_existing(change.current), owned):
            raise _changed_since_plan(change)
    elif (current is None) != (change.current is None):
        raise _changed_since_plan(change)
    if change.target is not None:
        artifact = render_target(plan.spec, change.target, current,
                                 change.stale_keys).artifacts[0]
    else:
        from provision.render.mux import parse_existing, remove_entries

        if current is None:  # already deleted outside provision: nothing left to remove
            return Written(change=change)
        remaining = remove_entries(current, owned)
        if not parse_existing(remaining):
            # Only provision's entries were in it: the file goes, as a file provision made does.
            atomic_remove(change.path)
            return Written(change=replace(change, artifact=None))
        assert change.artifact is not None
        artifact = replace(change.artifact, content=remaining)
    saved = atomic_write(change.path, artifact.content, artifact.mode,
                         follow_symlinks=change.follow_symlinks, backup=backup)
    return Written(change=replace(change, artifact=artifact), backup=saved)


def _check_unchanged(change: Change) -> None:
    now, _ = read_current(change.path)
    if now != change.current:
        raise _changed_since_plan(change)


def _changed_since_plan(change: Change) -> ApplyError:
    return ApplyError(f"{change.path} changed since the plan", diagnostics=[Diagnostic.error(
        f"{change.path} changed since the plan was made",
        f"{change.address} was not written. Re-run plan to see the new difference.",
    )])


def _fingerprints(plan: Plan, change: Change, keys: Mapping[str, str]) -> dict[str, str]:
    if change.target is None or not keys:
        return {}
    return {p.address: keys[p.address] for p in plan.spec.providers_of(change.target)
            if p.address in keys}


def _record(state: State, planned: Change, done: Change,
            fingerprints: Mapping[str, str]) -> State:
    artifact = done.artifact
    if planned.action == "delete" and (artifact is None or not artifact.managed_keys):
        return without_resource(state, planned.address)
    assert artifact is not None
    keys = artifact.managed_keys
    digest = (owned_digest(artifact.structured, keys) if keys is not None
              else sha256_bytes(artifact.content))
    return with_resource(state, ResourceState(
        address=planned.address, type=planned.type, name=planned.name,
        path=str(planned.path), sha256=digest, mode=artifact.mode, managed_keys=keys,
        key_fingerprints=fingerprints,
    ))
