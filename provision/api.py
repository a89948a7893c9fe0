"""The library face the CLI and tests share: each function composes pipeline stages."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from provision.plan import Plan, make_plan
from provision.spec.resolve import Options, Reserved, Resolved, load, spec_root
from provision.spec.variables import VarArg
from provision.state import (
    FINGERPRINT_KEY_FILENAME,
    STATE_DIRNAME,
    backup_path,
    history_lock_path,
    history_path,
    load_state,
    lock_path,
    state_path,
)

__all__ = ["VarArg", "load_spec", "own_files", "plan", "state_file_for"]


def load_spec(
    path: Path | str = ".",
    *,
    env: Mapping[str, str] | None = None,
    var_args: Sequence[VarArg] = (),
    read_secrets: bool = True,
    deployment: str | None = None,
    state: Path | str | None = None,
) -> Resolved:
    """Load, validate and resolve a spec file or directory. Raises DiagnosticsError.

    With `deployment`, only that deployment is resolved (see `provision.spec.resolve`). No target
    may write one of provision's own files for `state` (the default state when None)."""
    options = Options(
        env=dict(os.environ) if env is None else env,
        var_args=tuple(var_args),
        read_secrets=read_secrets,
        deployment=deployment,
        reserved=own_files(path, state),
    )
    return load(Path(path), options)


def state_file_for(spec_path: Path | str, override: Path | str | None = None) -> Path:
    """`.provision/state.json` beside the spec root, unless overridden."""
    return Path(override) if override else state_path(spec_root(Path(spec_path)))


def own_files(spec_path: Path | str = ".", state: Path | str | None = None) -> Reserved:
    """What provision keeps for the state in use, which no target may write: the state,
    its backup and lock, and beside it the fingerprint key and the probe health history with its
    lock. A `.provision` directory is provision's alone, the state's and the default one beside
    the spec root (which a run without -state uses); any other directory is the user's."""
    state_file = state_file_for(spec_path, state)
    state_dir = state_file.parent
    return Reserved(
        state=state_file,
        files=(
            (state_file, "state file"),
            (backup_path(state_file), "state backup"),
            (lock_path(state_file), "state lock"),
            (state_dir / FINGERPRINT_KEY_FILENAME, "fingerprint key"),
            (history_path(state_dir), "probe health history"),
            (history_lock_path(state_dir), "probe health history lock"),
        ),
        directories=tuple(dict.fromkeys(
            d for d in (state_file_for(spec_path).parent, state_dir)
            if d.name == STATE_DIRNAME)),
    )


def plan(
    spec_path: Path | str = ".",
    *,
    env: Mapping[str, str] | None = None,
    var_args: Sequence[VarArg] = (),
    targets: Sequence[str] = (),
    destroy: bool = False,
    state: Path | str | None = None,
) -> Plan:
    """Resolve the spec, read state and disk, and decide what apply would do."""
    resolved = load_spec(spec_path, env=env, var_args=var_args, state=state)
    current = load_state(state_file_for(spec_path, state))
    return make_plan(resolved.spec, current, targets=targets, destroy=destroy,
                     warnings=resolved.warnings)
