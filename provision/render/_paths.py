"""The files a target writes, named from the spec alone: its own file and the extra files its
renderer adds beside it (`secrets: file` key files, an `env_block`'s declarations).

`validate` checks every one of them against the others' before anything is rendered, so the
names are decided here once; the renderers name their extra files with these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from provision.model import Provider, Target
from provision.record import record


@record
class TargetFile:
    """One file a target writes, what it is to the target, and the target key that makes it."""

    path: Path
    what: str  # "its file", 'the key file of provider "groq"', …
    key: str  # the spec key to point a diagnostic at


def keys_dir(target: Target, path: Path) -> Path:
    """Where a mux_providers target at `path` puts its key files: `secrets_dir`, else `keys`
    beside the file."""
    return Path(target.options.get("secrets_dir") or path.parent / "keys")


def key_file(target: Target, path: Path, provider: Provider) -> Path | None:
    """The file a mux_providers target at `path` writes `provider`'s API key to, or None when it
    writes none: not `secrets: file`, no `api_key` (a bridged provider's is the Coder token), or
    an `api_key_file` Mux reads instead."""
    if target.type != "mux_providers" or target.options.get("secrets") != "file":
        return None
    if provider.api_key is None or provider.api_key_file is not None:
        return None
    return keys_dir(target, path) / f"{provider.id}.key"


def declarations_file(target: Target, path: Path) -> Path | None:
    """`<stem>.declarations.tf` beside an `env_block` target at `path`, which holds the variable
    and data-source declarations the bare env block cannot; None for other styles. The name is
    the target's whether or not a render has anything to declare."""
    if target.type != "coder_agent_env" or target.options.get("style") != "env_block":
        return None
    stem = path.name.split(".")[0] or path.name
    return path.with_name(f"{stem}.declarations.tf")


def target_files(target: Target, providers: Iterable[Provider]) -> tuple[TargetFile, ...]:
    """Every file `target` writes, its own first; `providers` are the ones it renders."""
    if target.path is None:
        return ()
    out = [TargetFile(path=target.path, what="its file", key="path")]
    declarations = declarations_file(target, target.path)
    if declarations is not None:
        out.append(TargetFile(path=declarations, what="its declarations file", key="style"))
    key = "secrets_dir" if "secrets_dir" in target.options else "secrets"
    for provider in providers:
        found = key_file(target, target.path, provider)
        if found is not None:
            out.append(TargetFile(path=found, key=key,
                                  what=f'the key file of provider "{provider.id}"'))
    return tuple(out)
