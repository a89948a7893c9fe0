"""Secret conventions of a spec: which environment variables hold a provider's keys (a list is
separated by , or ;) and the only places a sensitive value may be written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from provision.errors import Diagnostic
from provision.secrets import Secret
from provision.spec.source import Path as DocPath
from provision.spec.source import SourceMap, format_path

_SPLIT_KEYS = re.compile(r"[,;]")


def rotation_keys(env: Mapping[str, str], prefix: str) -> list[str]:
    """Candidate keys by the convention of seed 004, in priority order, deduplicated: a live
    override, the list, the primary key, then the numbered keys in numeric order."""
    found = [env.get(f"PROVISION_LIVE_{prefix}_KEY", "")]
    found += _SPLIT_KEYS.split(env.get(f"{prefix}_API_KEYS", ""))
    found.append(env.get(f"{prefix}_API_KEY", ""))
    numbered = re.compile(rf"{re.escape(prefix)}_API_KEY_(\d+)")
    found += [env[k] for k in sorted((k for k in env if numbered.fullmatch(k)),
                                     key=lambda k: int(k.rsplit("_", 1)[1]))]
    return list(dict.fromkeys(k.strip() for k in found if k.strip()))


SECRET_FIELDS = frozenset({"api_key", "token", "bearer_token", "access_key_id",
                           "secret_access_key"})
SECRET_MAPS = frozenset({"headers", "env", "with"})  # module inputs: checked in the module


def misplaced_secrets(value: Any, source: SourceMap, path: DocPath = ()) -> list[Diagnostic]:
    """A sensitive value may only go where provision treats it as a secret."""
    if isinstance(value, Secret):
        field_ = path[-1] if path else ""
        parent = path[-2] if len(path) > 1 else ""
        if field_ in SECRET_FIELDS or parent in SECRET_MAPS:
            return []
        return [Diagnostic.error(
            f"Sensitive value used in {format_path(path)}",
            f"{format_path(path)} is written and shown as plain text. Secrets go only in "
            "api_key, token, bearer_token, access_key_id, secret_access_key, headers and env.",
            span=source.at(path),
        )]
    if isinstance(value, dict):
        return [d for k, v in value.items() for d in misplaced_secrets(v, source, (*path, k))]
    if isinstance(value, list):
        return [d for i, v in enumerate(value) for d in misplaced_secrets(v, source, (*path, i))]
    return []
