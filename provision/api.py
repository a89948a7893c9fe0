"""The library face the CLI and tests share: each function composes pipeline stages."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from provision.plan import Plan, make_plan
from provision.spec.resolve import Options, Resolved, load, spec_root
from provision.spec.variables import VarArg
from provision.state import load_state, state_path

__all__ = ["VarArg", "load_spec", "plan", "state_file_for"]


def load_spec(
    path: Path | str = ".",
    *,
    env: Mapping[str, str] | None = None,
    var_args: Sequence[VarArg] = (),
    read_secrets: bool = True,
    deployment: str | None = None,
) -> Resolved:
    """Load, validate and resolve a spec file or directory. Raises DiagnosticsError.

    With `deployment`, only that deployment is resolved (see `provision.spec.resolve`)."""
    options = Options(
        env=dict(os.environ) if env is None else env,
        var_args=tuple(var_args),
        read_secrets=read_secrets,
        deployment=deployment,
    )
    return load(Path(path), options)


def state_file_for(spec_path: Path | str, override: Path | str | None = None) -> Path:
    """`.provision/state.json` beside the spec root, unless overridden."""
    return Path(override) if override else state_path(spec_root(Path(spec_path)))


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
    resolved = load_spec(spec_path, env=env, var_args=var_args)
    current = load_state(state_file_for(spec_path, state))
    return make_plan(resolved.spec, current, targets=targets, destroy=destroy,
                     warnings=resolved.warnings)
