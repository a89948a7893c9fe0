"""What provision last wrote: `.provision/state.json` beside the spec root.

Terraform's state habits (version, lineage fixed at creation, serial bumped on every write, a
backup of the previous state), minus its best-known complaint: the state never holds a secret.
It records digests, modes and managed keys; where it must remember *which* secret was used (a
rotation candidate), it stores an HMAC fingerprint under a key that never leaves this machine.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from provision import __version__
from provision.errors import Diagnostic, Span, StateError
from provision.fsutil import (
    RECORD_FILE_LIMIT,
    atomic_write,
    create_exclusive,
    ensure_dir,
    read_regular,
)
from provision.record import field, record, replace
from provision.secrets import REDACTOR

STATE_VERSION = 1
STATE_DIRNAME = ".provision"
STATE_FILENAME = "state.json"
FINGERPRINT_KEY_FILENAME = "fingerprint.key"
HISTORY_FILENAME = "health.jsonl"  # probe results, kept by provision.probe.health
FINGERPRINT_KEY_BYTES = 32
STATE_FILE_MODE = 0o600


def random_uuid() -> str:
    """A random (version 4) UUID, as str(uuid.uuid4()) gives it. Every first plan makes one, and
    importing uuid (which imports platform) would cost it more than the rest of the state module."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40  # version 4
    b[8] = b[8] & 0x3F | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def state_path(root: Path) -> Path:
    return root / STATE_DIRNAME / STATE_FILENAME


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".backup")


def history_path(state_dir: Path) -> Path:
    return state_dir / HISTORY_FILENAME


def history_lock_path(state_dir: Path) -> Path:
    return state_dir / (HISTORY_FILENAME + ".lock")


def lock_path(state_file: Path) -> Path:
    """The lock beside a state file: `.provision/state.json` → `.provision/state.lock`."""
    return state_file.with_suffix(".lock")


@record
class ResourceState:
    """One artifact as provision last wrote it. No field may hold a secret value."""

    address: str
    type: str
    name: str
    path: str
    sha256: str
    mode: int
    managed_keys: tuple[str, ...] | None = None  # None: the whole file is provision's
    key_fingerprints: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.managed_keys is not None:
            object.__setattr__(self, "managed_keys", tuple(self.managed_keys))
        object.__setattr__(self, "key_fingerprints", MappingProxyType(dict(self.key_fingerprints)))

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "path": self.path,
            "sha256": self.sha256,
            "mode": f"{self.mode:04o}",
            "managed_keys": None if self.managed_keys is None else list(self.managed_keys),
            "key_fingerprints": dict(self.key_fingerprints),
        }


@record
class State:
    """The state file's content: a lineage fixed at creation, a serial bumped on every write,
    and each artifact as provision last wrote it, by address."""

    version: int = STATE_VERSION
    lineage: str
    serial: int = 0
    resources: Mapping[str, ResourceState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", MappingProxyType(dict(self.resources)))

    @classmethod
    def fresh(cls) -> State:
        return cls(lineage=random_uuid())

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "provision_version": __version__,
            "lineage": self.lineage,
            "serial": self.serial,
            "resources": {a: r.to_json() for a, r in self.resources.items()},
        }


def with_resource(state: State, resource: ResourceState) -> State:
    return replace(state, resources={**state.resources, resource.address: resource})


def without_resource(state: State, address: str) -> State:
    return replace(state, resources={a: r for a, r in state.resources.items() if a != address})


def _invalid(path: Path, problem: str) -> StateError:
    summary = f"Invalid state file {path}"
    detail = f"{problem}\nRestore it from {backup_path(path).name} or fix it by hand."
    return StateError(f"{summary}: {problem}", diagnostics=[Diagnostic.error(summary, detail)])


def _get(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ValueError(f"{where}.{key} is missing or has the wrong type")
    return value


def _parse_resource(address: str, raw: Any) -> ResourceState:
    where = f"resources[{address!r}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} is not an object")
    mode_text = _get(raw, "mode", str, where)
    try:
        mode = int(mode_text, 8)
    except ValueError:
        raise ValueError(f"{where}.mode {mode_text!r} is not an octal mode") from None
    keys = raw.get("managed_keys")
    if keys is not None and not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise ValueError(f"{where}.managed_keys must be null or a list of strings")
    fingerprints = raw.get("key_fingerprints", {})
    if not (
        isinstance(fingerprints, dict) and all(isinstance(v, str) for v in fingerprints.values())
    ):
        raise ValueError(f"{where}.key_fingerprints must map names to strings")
    return ResourceState(
        address=address,
        type=_get(raw, "type", str, where),
        name=_get(raw, "name", str, where),
        path=_get(raw, "path", str, where),
        sha256=_get(raw, "sha256", str, where),
        mode=mode,
        managed_keys=None if keys is None else tuple(keys),
        key_fingerprints=fingerprints,
    )


def parse_state(text: str, path: Path) -> State:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        span = Span(str(path), exc.lineno, exc.colno, exc.lineno, exc.colno + 1)
        summary = f"Invalid state file {path}: {exc.msg}"
        raise StateError(summary, diagnostics=[Diagnostic.error(summary, span=span)]) from None
    if not isinstance(doc, dict):
        raise _invalid(path, "the top level is not a JSON object")
    version = doc.get("version")
    if type(version) is not int or version != STATE_VERSION:  # true == 1 in Python
        summary = f"Unsupported state file version {version!r} in {path}"
        detail = f"This provision ({__version__}) reads state version {STATE_VERSION}. "
        if type(version) is int and version > STATE_VERSION:
            detail += "A newer provision wrote this file: upgrade provision instead of editing it."
        else:
            detail += ("No provision writes this version: the file was edited or damaged. "
                       f"Restore it from {backup_path(path).name} or fix it by hand.")
        raise StateError(summary, diagnostics=[Diagnostic.error(summary, detail)])
    try:
        lineage = _get(doc, "lineage", str, "state")
        serial = _get(doc, "serial", int, "state")
        if serial < 0:
            raise ValueError("state.serial is negative")
        raw_resources = _get(doc, "resources", dict, "state")
        resources = {a: _parse_resource(a, r) for a, r in raw_resources.items()}
    except ValueError as exc:
        raise _invalid(path, str(exc)) from None
    return State(version=version, lineage=lineage, serial=serial, resources=resources)


def _read_text(path: Path) -> str | None:
    try:
        return read_regular(path, RECORD_FILE_LIMIT).decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise _invalid(path, "it is not UTF-8 text") from None
    except OSError as exc:
        summary = f"Cannot read state file {path}: {exc.strerror or exc}"
        raise StateError(summary) from exc


def load_state(path: Path) -> State:
    """The state at path; a fresh one (new lineage, serial 0, not yet written) when missing."""
    text = _read_text(path)
    return State.fresh() if text is None else parse_state(text, path)


def serialize_state(state: State) -> str:
    return json.dumps(state.to_json(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _refuse_secrets(path: Path, state: State, text: str) -> None:
    if REDACTOR.redact(text) == text:
        return
    leaking = [
        REDACTOR.redact(address)
        for address, resource in state.resources.items()
        if (chunk := json.dumps([address, resource.to_json()], ensure_ascii=False))
        != REDACTOR.redact(chunk)
    ]
    where = ", ".join(leaking) if leaking else "the state's header"
    summary = f"Refusing to write {path}: it would contain a secret value"
    detail = (
        f"A registered secret value appears in {where}. The state records only digests and "
        "keyed fingerprints, never values; this is a bug in provision. Nothing was written."
    )
    raise StateError(summary, diagnostics=[Diagnostic.error(summary, detail)])


def save_state(path: Path, state: State) -> State:
    """Write state with its serial bumped and return what was written.

    Refuses when the file on disk is not the one `state` was read from (another lineage, or a
    serial that moved on): a stale in-memory state must not silently undo someone's apply.
    """
    new = replace(state, serial=state.serial + 1)
    text = serialize_state(new)
    _refuse_secrets(path, new, text)
    previous = _read_text(path)
    if previous is not None:
        on_disk = parse_state(previous, path)
        if on_disk.lineage != state.lineage or on_disk.serial != state.serial:
            summary = f"State file {path} changed since it was read"
            detail = (
                f"Expected lineage {state.lineage} serial {state.serial}; the file has lineage "
                f"{on_disk.lineage} serial {on_disk.serial}. Run the command again."
            )
            raise StateError(summary, diagnostics=[Diagnostic.error(summary, detail)])
    if previous is not None:
        atomic_write(backup_path(path), previous.encode("utf-8"), STATE_FILE_MODE)
    atomic_write(path, text.encode("utf-8"), STATE_FILE_MODE)
    return new


def _key_error(path: Path, problem: str, fix: str) -> StateError:
    summary = f"Unusable fingerprint key {path}: {problem}"
    return StateError(summary, diagnostics=[Diagnostic.error(summary, fix)])


def fingerprint_key(state_dir: Path) -> bytes:
    """The per-state HMAC key for secret fingerprints, created (0600) on first use."""
    path = state_dir / FINGERPRINT_KEY_FILENAME
    ensure_dir(state_dir)
    if not path.exists() and not path.is_symlink():
        key = os.urandom(FINGERPRINT_KEY_BYTES)
        if create_exclusive(path, key, STATE_FILE_MODE):
            return key
    # Where there are no hard links, create_exclusive makes the file before it writes the key.
    deadline = time.monotonic() + 1.0
    while True:
        try:
            info = path.lstat()
            key = read_regular(path, RECORD_FILE_LIMIT)
        except OSError as exc:
            raise _key_error(path, exc.strerror or str(exc), "Check its permissions.") from exc
        if not stat.S_ISREG(info.st_mode):
            raise _key_error(path, "not a regular file", "Replace it with a regular file.")
        if len(key) == FINGERPRINT_KEY_BYTES or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if len(key) != FINGERPRINT_KEY_BYTES:
        raise _key_error(
            path,
            f"{len(key)} bytes instead of {FINGERPRINT_KEY_BYTES}",
            "Delete it; a new key is created and saved plan files must be made again.",
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise _key_error(
            path,
            f"mode {stat.S_IMODE(info.st_mode):04o} lets others read it",
            f"Run: chmod 600 {path}",
        )
    return key
