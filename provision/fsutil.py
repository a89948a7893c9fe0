"""Crash-safe file primitives: every byte provision writes goes through here.

A reader (Mux's live reload, a shell sourcing an env file, a concurrent `provision plan`) sees
either the old file or the new one, never a torn one: content goes to a temp file in the same
directory, which is chmod-ed before the first byte (a secret never sits in a world-readable
file), fsync-ed, renamed over the target, and the directory is fsync-ed so the rename survives a
power loss.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import time
from pathlib import Path

from provision.errors import ApplyError, Diagnostic, ProvisionError

PRIVATE_DIR_MODE = 0o700

# Filesystems that cannot fsync a directory (some network and FUSE mounts) say so with these.
_NO_DIR_FSYNC = {errno.EINVAL, errno.ENOTSUP, errno.EBADF}


def _error(kind: type[ProvisionError], action: str, path: Path, exc: OSError) -> ProvisionError:
    reason = exc.strerror or str(exc)
    summary = f"Cannot {action} {path}: {reason}"
    return kind(summary, diagnostics=[Diagnostic.error(summary)])


def ensure_dir(path: Path, mode: int = PRIVATE_DIR_MODE) -> None:
    """Create path and any missing parents with exactly `mode`; existing ones are left alone.

    `os.makedirs` applies its mode only to the leaf (and the umask to all), so each missing level
    is created and chmod-ed here.
    """
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=mode)
        except FileExistsError:
            if not directory.is_dir():
                raise ApplyError(
                    f"Cannot create directory {directory}: a file is in the way"
                ) from None
            continue
        except OSError as exc:
            raise _error(ApplyError, "create directory", directory, exc) from exc
        directory.chmod(mode)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_DIR_FSYNC:
            raise
    finally:
        os.close(fd)


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fill(fd: int, content: bytes, mode: int) -> None:
    """Mode first, so a secret never sits in a file others can read; then write, sync, close."""
    try:
        os.fchmod(fd, mode)
        _write_all(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)


def _resolve_target(path: Path, follow_symlinks: bool) -> Path:
    if not path.is_symlink():
        return path
    if not follow_symlinks:
        summary = f"Refusing to write {path}: it is a symbolic link"
        detail = (
            f"{path} points to {path.readlink()}. Writing through a link would change a file "
            "provision does not manage. Set follow_symlinks: true on the target to write to the "
            "link's destination, or replace the link with a regular file."
        )
        raise ApplyError(summary, diagnostics=[Diagnostic.error(summary, detail)])
    return path.resolve()


def _backup_path(path: Path) -> Path:
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S")
    candidate = path.with_name(f"{path.name}.{stamp}~")
    counter = 1
    while candidate.exists() or candidate.is_symlink():  # two backups within one second
        candidate = path.with_name(f"{path.name}.{stamp}.{counter}~")
        counter += 1
    return candidate


def atomic_write(
    path: Path, content: bytes, mode: int, *, follow_symlinks: bool = False, backup: bool = False
) -> Path | None:
    """Replace path with content and permission bits `mode`, atomically.

    Returns the backup's path when backup=True and a previous file existed, else None.
    """
    target = _resolve_target(path, follow_symlinks)
    ensure_dir(target.parent)
    backup_to: Path | None = None
    if backup and target.is_file():
        backup_to = _backup_path(target)
        try:
            previous, previous_mode = target.read_bytes(), stat.S_IMODE(target.stat().st_mode)
        except OSError as exc:
            raise _error(ApplyError, "back up", target, exc) from exc
        atomic_write(backup_to, previous, previous_mode)

    import tempfile  # plan and validate import this module but never write

    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _error(ApplyError, "write", target, exc) from exc
    tmp = Path(tmp_name)
    try:
        _fill(fd, content, mode)
        tmp.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _error(ApplyError, "write", target, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    try:
        _fsync_dir(target.parent)
    except OSError as exc:
        raise _error(ApplyError, "sync the directory of", target, exc) from exc
    return backup_to


def create_exclusive(path: Path, content: bytes, mode: int) -> bool:
    """Create path with content only if nothing is there (O_CREAT|O_EXCL); False if it exists."""
    ensure_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        return False
    except OSError as exc:
        raise _error(ApplyError, "create", path, exc) from exc
    try:
        _fill(fd, content, mode)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise _error(ApplyError, "create", path, exc) from exc
    return True


def atomic_remove(path: Path) -> bool:
    """Remove path (a link itself, not its destination); False when it was already gone."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _error(ApplyError, "remove", path, exc) from exc
    try:
        _fsync_dir(path.parent)
    except OSError as exc:
        raise _error(ApplyError, "sync the directory of", path, exc) from exc
    return True


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str | None:
    """The file's digest as "sha256:<hex>", or None when it does not exist."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise _error(ProvisionError, "read", path, exc) from exc
    return "sha256:" + digest.hexdigest()


def file_mode(path: Path) -> int | None:
    """The permission bits of path (following links), or None when it does not exist."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise _error(ProvisionError, "inspect", path, exc) from exc
