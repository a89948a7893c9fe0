"""Crash-safe file primitives: every byte provision writes, and every file a user names that it
reads, goes through here.

A reader (Mux's live reload, a shell sourcing an env file, a concurrent `provision plan`) sees
either the old file or the new one, never a torn one: content goes to a temp file in the same
directory, which is chmod-ed before the first byte (a secret never sits in a world-readable
file), fsync-ed, renamed over the target, and the directory is fsync-ed so the rename survives a
power loss. Only a regular file (or nothing) is ever replaced: a FIFO or a device such as
/dev/full would silently become a regular file.

A file is read only when it is a regular file no larger than the limit for its kind, so a wrong
path (a FIFO, /dev/zero, a log of many MB) is refused with a message instead of hanging or
exhausting memory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from provision.errors import ApplyError, Diagnostic, ProvisionError

PRIVATE_DIR_MODE = 0o700

# The most provision reads from a file of each kind: far above any real one, far below what takes
# noticeable time or memory.
# Spec, module and variable files are written by hand: the largest example is 3 KB, and 1 MiB
# (some 25,000 lines) still loads in under a second.
SPEC_FILE_LIMIT = 1 << 20
# A `{file: …}` secret is one key or token (a PEM bundle is a few KiB). Every secret value is
# compiled into the pattern that redacts all output, at about 1 s and 130 MB of memory per MB.
SECRET_FILE_LIMIT = 64 << 10
# Files provision or Mux write (a target's current content, the providers.jsonc `import` reads)
# are a few KiB each; 4 MiB still parses and diffs in about 2 s.
MANAGED_FILE_LIMIT = 4 << 20
# provision's own records grow with the spec: the state by some 250 bytes per file, a saved plan
# by the whole of every file it would write. 1,000 deployments make a state under 1 MiB.
RECORD_FILE_LIMIT = 64 << 20

# Filesystems that cannot fsync a directory (some network and FUSE mounts) say so with these.
_NO_DIR_FSYNC = {errno.EINVAL, errno.ENOTSUP, errno.EBADF}
# link(2) answers these where the filesystem has no hard links (FAT, some FUSE and SMB mounts).
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)
_SIZE_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")


def _error(kind: type[ProvisionError], action: str, path: Path, exc: OSError) -> ProvisionError:
    reason = exc.strerror or str(exc)
    summary = f"Cannot {action} {path}: {reason}"
    return kind(summary, diagnostics=[Diagnostic.error(summary)])


def _not_regular(st_mode: int) -> str | None:
    """Why a file of this mode is not one provision reads or replaces; None for a regular file."""
    if stat.S_ISREG(st_mode):
        return None
    kind = next((name for is_kind, name in _FILE_KINDS if is_kind(st_mode)), "a special file")
    return f"it is not a regular file ({kind})"


def _size(n: int) -> str:
    value, unit = float(n), 0
    while value >= 1024 and unit < len(_SIZE_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{value:.1f}".removesuffix(".0") + f" {_SIZE_UNITS[unit]}"


def _check_readable(info: os.stat_result, limit: int | None) -> None:
    reason = _not_regular(info.st_mode)
    if reason is not None:  # OSError(EISDIR, …) is an IsADirectoryError, as open(2) would give
        raise OSError(errno.EISDIR if stat.S_ISDIR(info.st_mode) else errno.EINVAL, reason)
    if limit is not None and info.st_size > limit:
        raise OSError(errno.EFBIG, _too_large(limit, info.st_size))


def _too_large(limit: int, size: int | None = None) -> str:
    shown = "larger than" if size is None else f"{_size(size)}, over"
    return f"it is {shown} the {_size(limit)} limit for this kind of file"


@contextlib.contextmanager
def _open_regular(path: Path, limit: int | None) -> Iterator[BinaryIO]:
    """path (links followed) open for reading, when it is a regular file of at most limit bytes.

    Checked before the open, which on a device can have effects of its own, and again after, on
    what was opened; O_NONBLOCK keeps the open of a FIFO swapped in between from waiting for a
    writer. Raises OSError with a strerror fit for "Cannot read {path}: {strerror}".
    """
    try:
        _check_readable(path.stat(), limit)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except ValueError:  # "embedded null byte"
        raise OSError(errno.EINVAL, "its name contains a NUL character") from None
    with os.fdopen(fd, "rb") as f:
        _check_readable(os.fstat(fd), limit)
        yield f


def read_regular(path: Path, limit: int) -> bytes:
    """The content of the regular file at path, refused (OSError) beyond `limit` bytes: a FIFO
    would block or never end, /dev/zero never ends, and a file of many MB is the wrong file."""
    with _open_regular(path, limit) as f:
        data = f.read(limit + 1)  # the size was checked, but the file may be growing
    if len(data) > limit:
        raise OSError(errno.EFBIG, _too_large(limit))
    return data


def read_regular_tail(path: Path, limit: int) -> tuple[bytes, bool]:
    """The last `limit` bytes of the regular file at path (refused, like read_regular, when it
    is not one), and whether the file held more: then the first line read may be cut."""
    with _open_regular(path, None) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            f.seek(size - limit)
        data = f.read(limit)
    return data, size > limit


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


def _refuse_non_regular(path: Path, *, links_ok: bool = False) -> None:
    """Refuse to write over anything but a regular file (or nothing): a rename would turn a FIFO
    or a device (as root, /dev/full) into a regular file, and cannot replace a directory."""
    try:
        st_mode = path.lstat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there; ensure_dir says why
        return
    except OSError as exc:
        raise _error(ApplyError, "write", path, exc) from exc
    reason = _not_regular(st_mode)
    if reason is None or (links_ok and stat.S_ISLNK(st_mode)):
        return
    summary = f"Refusing to write {path}: {reason}"
    detail = (
        "provision writes only regular files: replacing this one with a regular file would break "
        "whatever uses it. Remove it, or choose another path."
    )
    raise ApplyError(summary, diagnostics=[Diagnostic.error(summary, detail)])


def _backup_path(path: Path) -> Path:
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S")
    candidate = path.with_name(f"{path.name}.{stamp}~")
    counter = 1
    while candidate.exists() or candidate.is_symlink():  # two backups within one second
        candidate = path.with_name(f"{path.name}.{stamp}.{counter}~")
        counter += 1
    return candidate


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _write_aside(path: Path, content: bytes, mode: int, action: str) -> Path:
    """A synced temp file beside path holding content with `mode`, for the caller to publish."""
    import tempfile  # plan and validate import this module but never write

    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _error(ApplyError, action, path, exc) from exc
    staged = Path(name)
    try:
        _fill(fd, content, mode)
    except OSError as exc:
        _discard(staged)
        raise _error(ApplyError, action, path, exc) from exc
    except BaseException:
        _discard(staged)
        raise
    return staged


def atomic_write(
    path: Path, content: bytes, mode: int, *, follow_symlinks: bool = False, backup: bool = False
) -> Path | None:
    """Replace path with content and permission bits `mode`, atomically.

    Returns the backup's path when backup=True and a previous file existed, else None.
    """
    target = _resolve_target(path, follow_symlinks)
    _refuse_non_regular(target)
    ensure_dir(target.parent)
    backup_to: Path | None = None
    if backup and target.is_file():
        backup_to = _backup_path(target)
        try:
            previous, previous_mode = target.read_bytes(), stat.S_IMODE(target.stat().st_mode)
        except OSError as exc:
            raise _error(ApplyError, "back up", target, exc) from exc
        atomic_write(backup_to, previous, previous_mode)

    staged = _write_aside(target, content, mode, "write")
    try:
        staged.replace(target)
    except OSError as exc:
        _discard(staged)
        raise _error(ApplyError, "write", target, exc) from exc
    except BaseException:
        _discard(staged)
        raise
    try:
        _fsync_dir(target.parent)
    except OSError as exc:
        raise _error(ApplyError, "sync the directory of", target, exc) from exc
    return backup_to


def create_exclusive(path: Path, content: bytes, mode: int) -> bool:
    """Create path with content and `mode` unless the name is taken; False when a file or a link
    is there (anything else is refused, as by atomic_write).

    The file appears whole, so no reader ever sees it empty: content goes to a temp file beside
    it, and link(2) publishes that, failing (unlike a rename) when the name is taken. Where the
    filesystem has no hard links, it is created with O_EXCL and then written.
    """
    if os.path.lexists(path):
        # Taken already, as on every poll of a held lock: no temp file written and synced for
        # nothing. The link below still decides when the name comes free meanwhile.
        _refuse_non_regular(path, links_ok=True)
        return False
    ensure_dir(path.parent)
    staged = _write_aside(path, content, mode, "create")
    try:
        os.link(staged, path)
    except FileExistsError:
        _refuse_non_regular(path, links_ok=True)
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise _error(ApplyError, "create", path, exc) from exc
        return _create_in_place(path, content, mode)
    finally:
        _discard(staged)
    return True


def _create_in_place(path: Path, content: bytes, mode: int) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        _refuse_non_regular(path, links_ok=True)
        return False
    except OSError as exc:
        raise _error(ApplyError, "create", path, exc) from exc
    try:
        _fill(fd, content, mode)
    except OSError as exc:
        _discard(path)
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


# hashlib is imported where a digest is taken: its OpenSSL costs a tenth of a short command's
# start-up, and validate, like a first plan, takes no digest.
def sha256_bytes(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str | None:
    """The file's digest as "sha256:<hex>", or None when it does not exist."""
    import hashlib

    digest = hashlib.sha256()
    try:
        with _open_regular(path, None) as f:
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
