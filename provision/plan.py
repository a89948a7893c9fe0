"""Plan: what the spec renders, compared with what is on disk and in state.

Facts (disk, state) are read here; decisions are per artifact: create, update, delete or no-op,
each with the reason. Merge-managed files (providers.jsonc) are compared only on the entries
provision owns, so entries a user or Mux's settings UI added are neither drift nor touched.
Nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from provision.errors import Diagnostic, DiagnosticsError
from provision.fsutil import MANAGED_FILE_LIMIT, file_mode, read_regular, sha256_bytes
from provision.model import Spec, Target
from provision.record import field, record, replace
from provision.render import Artifact, Rendered, render
from provision.secrets import reveal_all
from provision.state import ResourceState, State


@record
class Change:
    """What plan decided for one artifact: create, update, delete or no-op, with the file as it
    is now and whether it changed outside provision."""

    address: str
    type: str
    name: str
    path: Path
    action: str  # "create" | "update" | "delete" | "no-op"
    artifact: Artifact | None  # what apply writes; None when a whole file is deleted
    target: Target | None  # the target to re-render under Mux's lock; None for deletes
    current: bytes | None  # the file now; None when absent
    current_mode: int | None
    drift: bool = False  # changed outside provision since it last wrote it
    drift_reason: str = ""
    managed_keys: tuple[str, ...] | None = None
    stale_keys: tuple[str, ...] = ()  # entries provision owned and no longer declares
    before: Any = None  # owned entries (merge-managed), the parsed file (.tf.json) or text
    after: Any = None
    follow_symlinks: bool = False

    @property
    def current_sha256(self) -> str | None:
        return None if self.current is None else sha256_bytes(self.current)

    @property
    def desired_sha256(self) -> str | None:
        return None if self.artifact is None else sha256_bytes(self.artifact.content)

    @property
    def sensitive(self) -> bool:
        return self.artifact is not None and self.artifact.sensitive

    @property
    def mode_after(self) -> int | None:
        return None if self.artifact is None else self.artifact.mode


@record
class Plan:
    """The changes an apply would make, with the spec and state they were decided from; the probe
    stage fills in `probes` later."""

    spec: Spec
    state: State
    changes: tuple[Change, ...]
    warnings: tuple[Diagnostic, ...] = ()
    env_required: tuple[str, ...] = ()
    targeted: tuple[str, ...] = ()
    destroy: bool = False
    probes: tuple[Any, ...] = field(default=())  # filled by the probe stage

    def count(self, action: str) -> int:
        return sum(c.action == action for c in self.changes)

    @property
    def has_changes(self) -> bool:
        return any(c.action != "no-op" for c in self.changes)


def owned_digest(obj: Mapping[str, Any], keys: Iterable[str]) -> str:
    """A digest of the owned entries only, so edits to other entries are not drift."""
    owned = {k: reveal_all(obj[k]) for k in keys if k in obj}
    text = json.dumps(owned, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return sha256_bytes(text.encode())


def read_current(path: Path) -> tuple[bytes | None, int | None]:
    try:
        return read_regular(path, MANAGED_FILE_LIMIT), file_mode(path)
    except FileNotFoundError:
        return None, None
    except IsADirectoryError:
        raise DiagnosticsError([Diagnostic.error(f"{path} is a directory, not a file")]) from None
    except OSError as exc:
        raise DiagnosticsError([Diagnostic.error(
            f"Cannot read {path}: {exc.strerror or exc}")]) from None


def _matches(address: str, targets: Sequence[str]) -> bool:
    return not targets or any(address == t or address.startswith(t + "/") for t in targets)


def make_plan(spec: Spec, state: State, *, targets: Sequence[str] = (),
              destroy: bool = False, warnings: Sequence[Diagnostic] = ()) -> Plan:
    diags: list[Diagnostic] = list(warnings)
    env_required: list[str] = []
    changes: list[Change] = []
    desired: set[str] = set()
    errors: list[Diagnostic] = []
    known = {t.address for t in spec.targets.values()}
    for t in targets:
        if t.split("/")[0] not in known and t not in state.resources:
            errors.append(Diagnostic.error(
                f'No target "{t}" in the spec or the state',
                "Addresses look like mux_providers.laptop; `provision state list` shows them."))
    if targets:
        diags.append(Diagnostic.warning(
            "Resource targeting is in effect",
            "The plan may be incomplete: other resources are not checked. Use -target for "
            "exceptional cases, not routinely."))
    for target in () if destroy else spec.targets.values():
        # -target may name one artifact of a target (mux_providers.x/keys/openai): render the
        # target, keep only what was named, and do not take the rest for deleted.
        if not (_matches(target.address, targets)
                or any(t.startswith(target.address + "/") for t in targets)):
            continue
        try:
            target_changes, rendered = _target_changes(spec, state, target)
        except DiagnosticsError as exc:
            errors.extend(exc.diagnostics)
            continue
        diags.extend(rendered.warnings)
        env_required.extend(rendered.env_required)
        desired.update(c.address for c in target_changes)
        changes.extend(c for c in target_changes if _matches(c.address, targets))
    if errors:
        raise DiagnosticsError(errors)
    for address, resource in state.resources.items():
        if address in desired or not _matches(address, targets):
            continue
        changes.append(_delete(resource, state))
    # A plan made again (after preflight picked keys) passes its warnings back in: once each.
    return Plan(spec=spec, state=state, changes=tuple(changes),
                warnings=tuple(dict.fromkeys(diags)),
                env_required=tuple(dict.fromkeys(env_required)), targeted=tuple(targets),
                destroy=destroy)


def _target_changes(spec: Spec, state: State, target: Target
                    ) -> tuple[list[Change], Rendered]:
    assert target.path is not None
    current, mode = read_current(target.path)
    resource = state.resources.get(target.address)
    stale: tuple[str, ...] = ()
    if resource is not None and resource.managed_keys is not None:
        stale = tuple(resource.managed_keys)
    rendered = render_target(spec, target, current, stale)
    out: list[Change] = []
    for i, artifact in enumerate(rendered.artifacts):
        if i == 0:
            cur, cur_mode = current, mode
        else:
            cur, cur_mode = read_current(artifact.path)
        out.append(_compare(artifact, target, cur, cur_mode,
                            state.resources.get(artifact.address)))
    return out, rendered


def render_target(spec: Spec, target: Target, current: bytes | None,
                  previously_owned: Sequence[str] = ()) -> Rendered:
    """Render, dropping entries provision owned before but no longer declares."""
    if previously_owned and current is not None:
        from provision.render.mux import remove_entries

        declared = {p.id for p in spec.providers_of(target)}
        dropped = [k for k in previously_owned if k not in declared]
        if dropped:
            current = remove_entries(current, dropped)
    return render(spec, target, current)


def _compare(artifact: Artifact, target: Target, current: bytes | None,
             current_mode: int | None, resource: ResourceState | None) -> Change:
    type_, _, name = artifact.address.partition(".")
    keys = artifact.managed_keys
    stale = tuple(k for k in (resource.managed_keys or ()) if keys is not None and k not in keys
                  ) if resource is not None else ()
    base = Change(address=artifact.address, type=type_, name=name, path=artifact.path,
                  action="create", artifact=artifact, target=target, current=current,
                  current_mode=current_mode, managed_keys=keys, stale_keys=stale,
                  follow_symlinks=target.follow_symlinks, after=_after_view(artifact))
    if current is None:
        drift = resource is not None
        return replace(base, drift=drift,
                       drift_reason="deleted outside provision" if drift else "")
    before = _before_view(artifact, current, stale)
    reason = "changed outside provision"
    if keys is not None:
        cur_obj = _parse_owned(current)
        same = owned_digest(cur_obj, (*keys, *stale)) == owned_digest(artifact.structured, keys)
        if resource is not None:
            drift = owned_digest(cur_obj, resource.managed_keys or ()) != resource.sha256
        else:
            taken = [k for k in keys if k in cur_obj
                     and reveal_all(cur_obj[k]) != reveal_all(artifact.structured[k])]
            drift = bool(taken)
            reason = f"entries {', '.join(taken)} exist and were not written by provision"
    else:
        same = current == artifact.content
        if resource is not None:
            drift = sha256_bytes(current) != resource.sha256
        else:
            drift, reason = not same, "exists and was not written by provision"
    action = "no-op" if same and current_mode == artifact.mode else "update"
    drift = drift and action != "no-op"
    return replace(base, action=action, drift=drift, drift_reason=reason if drift else "",
                   before=before)


def _delete(resource: ResourceState, state: State) -> Change:
    path = Path(resource.path)
    current, mode = read_current(path)
    base = Change(address=resource.address, type=resource.type, name=resource.name, path=path,
                  action="delete", artifact=None, target=None, current=current,
                  current_mode=mode, managed_keys=resource.managed_keys)
    if current is None:
        return replace(base, drift=True, drift_reason="already deleted outside provision")
    if resource.managed_keys is None:
        drift = sha256_bytes(current) != resource.sha256
        return replace(base, drift=drift, before=_text(current),
                       drift_reason="changed outside provision" if drift else "")
    from provision.render.mux import remove_entries

    cur_obj = _parse_owned(current)
    drift = owned_digest(cur_obj, resource.managed_keys) != resource.sha256
    remaining = remove_entries(current, resource.managed_keys)
    artifact = Artifact(address=resource.address, path=path, content=remaining,
                        mode=mode or 0o600, sensitive=False, managed_keys=(),
                        structured=_parse_owned(remaining))
    owned = {k: cur_obj[k] for k in resource.managed_keys if k in cur_obj}
    return replace(base, artifact=artifact, drift=drift, before=owned, after={},
                   stale_keys=tuple(resource.managed_keys),
                   drift_reason="changed outside provision" if drift else "")


def _parse_owned(content: bytes) -> dict[str, Any]:
    from provision.render.mux import parse_existing

    return parse_existing(content)


def _text(content: bytes) -> str:
    return content.decode("utf-8", errors="replace")


def _after_view(artifact: Artifact) -> Any:
    if artifact.structured is None:
        return _text(artifact.content)
    if artifact.managed_keys is not None:
        return {k: artifact.structured[k] for k in artifact.managed_keys
                if k in artifact.structured}
    return artifact.structured


def _before_view(artifact: Artifact, current: bytes, stale: Sequence[str]) -> Any:
    if artifact.structured is None:
        return _text(current)
    try:
        parsed = _parse_owned(current) if artifact.managed_keys is not None else json.loads(
            current)
    except (DiagnosticsError, ValueError):
        return _text(current)
    if artifact.managed_keys is not None:
        return {k: parsed[k] for k in (*artifact.managed_keys, *stale) if k in parsed}
    return parsed
