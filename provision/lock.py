"""Two cross-process locks.

`StateLock` is provision's own, with Terraform's habits: a lock-info file that names its holder
and appears with its content (written aside, then hard-linked, which never replaces a lock that
is there), fail fast by default, `-lock-timeout=DURATION` to wait, `force-unlock ID` to remove a
lock left by a crash. Nothing breaks a lock automatically; a lock whose holder is provably dead
is reported as stale, with the command that removes it.

`MuxLock` is the lock Mux itself takes around every providers.jsonc read-modify-write: the
directory `providers.jsonc.lock/`. Mux (FileLeaseManager.withDirLock) installs that directory by
renaming a staged sibling that already holds an `owner-<hex>` marker whose content is the
holder's pid, and it reclaims an EMPTY lock directory at once as a crash remnant. So a bare
`mkdir` would not keep Mux out; MuxLock installs the same marker layout. Older writers
(proper-lockfile) use an empty directory as a live lock, so MuxLock never renames over an
existing directory and never breaks one: a stale-looking lock is reported, not stolen.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from provision import __version__
from provision.errors import ApplyError, Diagnostic, LockError
from provision.fsutil import RECORD_FILE_LIMIT, create_exclusive, ensure_dir, read_regular
from provision.record import record
from provision.state import random_uuid

STATE_LOCK_FILENAME = "state.lock"
MUX_LOCK_TIMEOUT = 10.0
# Mux breaks its own providers lock after 10 s when the owner is gone; 60 s without a change is
# stale for every writer we know of, and still only reported.
MUX_LOCK_STALE_AFTER = 60.0
_MIN_POLL, _MAX_POLL = 0.1, 0.5


def _host() -> str:
    """This host's name, as socket.gethostname() gives it (without importing socket)."""
    return os.uname().nodename


def _who() -> str:
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no USER/LOGNAME and no passwd entry (some containers)
        user = str(os.getuid())
    return f"{user}@{_host()}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (another user's counts)."""
    if pid <= 0:  # os.kill(0, …) would signal our own process group
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists but belongs to someone else
        return True
    return True


@record
class LockInfo:
    id: str
    operation: str
    who: str
    version: str
    created: str  # RFC 3339, UTC
    pid: int
    host: str

    @classmethod
    def new(cls, operation: str) -> LockInfo:
        # Imported here, where a lock is taken: plan and validate import this module but take
        # no lock, and these imports would be a tenth of their start-up.
        from datetime import UTC, datetime

        created = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        return cls(
            id=random_uuid(),
            operation=operation,
            who=_who(),
            version=__version__,
            created=created,
            pid=os.getpid(),
            host=_host(),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Operation": self.operation,
            "Who": self.who,
            "Version": self.version,
            "Created": self.created,
            "Pid": self.pid,
            "Host": self.host,
        }

    @classmethod
    def from_json(cls, raw: Any) -> LockInfo | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("ID"), str):
            return None
        pid = raw.get("Pid")
        return cls(
            id=raw["ID"],
            operation=str(raw.get("Operation", "")),
            who=str(raw.get("Who", "")),
            version=str(raw.get("Version", "")),
            created=str(raw.get("Created", "")),
            pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else 0,
            host=str(raw.get("Host", "")),
        )

    @property
    def stale(self) -> bool:
        """Held by a process of this host that no longer runs."""
        return self.host == _host() and self.pid > 0 and not pid_alive(self.pid)

    def describe(self) -> str:
        rows = [
            ("ID", self.id),
            ("Operation", self.operation),
            ("Who", self.who),
            ("Version", self.version),
            ("Created", self.created),
            ("Pid", str(self.pid)),
            ("Host", self.host),
        ]
        return "Lock Info:\n" + "\n".join(f"  {k + ':':<11}{v}" for k, v in rows)


def read_lock_info(path: Path) -> LockInfo | None:
    """The holder recorded at path; None when there is no lock or it cannot be parsed."""
    # A holder on a filesystem without hard links creates the file before it writes it.
    for _ in range(5):
        try:
            info = LockInfo.from_json(json.loads(read_regular(path, RECORD_FILE_LIMIT)))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            info = None
        if info is not None:
            return info
        time.sleep(0.02)
    return None


def _create_lock_file(path: Path, payload: bytes) -> bool:
    """Create path holding payload, or return False when a lock is already there.

    Created empty and then written, the lock would exist empty for a moment, and under load for
    long enough that another run reports it as unreadable instead of naming its holder;
    create_exclusive publishes it whole.
    """
    try:
        return create_exclusive(path, payload, 0o600)
    except ApplyError as exc:
        summary = f"Cannot take the state lock {path}"
        raise LockError(summary, diagnostics=[Diagnostic.error(summary, str(exc))]) from exc


def _unreadable_detail(path: Path) -> str:
    return (
        f"The lock file {path} is empty or unreadable, probably left by a crash.\n"
        f"If no other provision is running, delete it: rm {path}"
    )


class _Lock:
    """`with lock:` for a lock that has acquire() and release()."""

    def acquire(self) -> Self:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class StateLock(_Lock):
    """`with StateLock(path, "apply", timeout=30): …` — exclusive across processes."""

    def __init__(self, path: Path, operation: str, *, timeout: float = 0) -> None:
        self.path = path
        self.operation = operation
        self.timeout = timeout
        self.info = LockInfo.new(operation)
        self._held = False

    def acquire(self) -> Self:
        payload = (json.dumps(self.info.to_json(), indent=2) + "\n").encode()
        deadline = time.monotonic() + self.timeout
        delay = _MIN_POLL
        vanished = 0
        while True:
            if _create_lock_file(self.path, payload):
                self._held = True
                return self
            holder = read_lock_info(self.path)
            if holder is None and not self.path.exists() and vanished < 3:
                vanished += 1  # released between our create and our read: try again at once
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._held_error(holder)
            time.sleep(min(delay, remaining))
            delay = min(delay * 1.5, _MAX_POLL)

    def _held_error(self, holder: LockInfo | None) -> LockError:
        summary = "Error acquiring the state lock"
        waited = f"waited {self.timeout:g}s" if self.timeout > 0 else "-lock-timeout is 0"
        lines = [f"The state lock {self.path} is held by another run ({waited})."]
        if holder is None:
            lines.append(_unreadable_detail(self.path))
        else:
            lines.append(holder.describe())
            if holder.stale:
                lines += [
                    f"The lock is stale: it is held by a dead process (pid {holder.pid} is no "
                    f"longer running on {holder.host}).",
                    "If no other provision is running, remove it with:",
                    f"  provision force-unlock {holder.id}",
                ]
        lines += [
            "",
            "provision takes this lock so that two runs never write the same state at once.",
            "Wait for the other run to finish, or retry with -lock-timeout=DURATION.",
        ]
        return LockError(summary, diagnostics=[Diagnostic.error(summary, "\n".join(lines))])

    def release(self) -> None:
        """Remove the lock file, but only while it still records our ID."""
        if not self._held:
            return
        self._held = False
        holder = read_lock_info(self.path)
        if holder is not None and holder.id == self.info.id:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def force_unlock(path: Path, lock_id: str) -> LockInfo:
    """Remove the state lock if it is held under lock_id; returns the removed holder."""
    holder = read_lock_info(path)
    if holder is None:
        if not path.exists():
            summary = "No state lock to remove"
            detail = f"{path} does not exist: the state is not locked."
        else:
            summary = "Cannot read the state lock"
            detail = _unreadable_detail(path)
        raise LockError(summary, diagnostics=[Diagnostic.error(summary, detail)])
    if holder.id != lock_id:
        summary = "Lock ID does not match"
        detail = (
            f"You asked to remove lock {lock_id!r}, but {path} is held under another ID.\n"
            f"{holder.describe()}"
        )
        raise LockError(summary, diagnostics=[Diagnostic.error(summary, detail)])
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return holder


class MuxLock(_Lock):
    """Mux's providers.jsonc lock; hold it only around one read-modify-write."""

    def __init__(self, providers_jsonc_path: Path, timeout: float = MUX_LOCK_TIMEOUT) -> None:
        self.target = providers_jsonc_path
        self.lock_dir = providers_jsonc_path.with_name(providers_jsonc_path.name + ".lock")
        self.timeout = timeout
        self._marker: Path | None = None

    def acquire(self) -> Self:
        ensure_dir(self.lock_dir.parent)
        deadline = time.monotonic() + self.timeout
        while not self._try_install():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._held_error()
            time.sleep(min(0.05, remaining))
        return self

    def _try_install(self) -> bool:
        # Renaming onto an EMPTY directory would replace it; an older writer's live lock is one.
        if self.lock_dir.exists() or self.lock_dir.is_symlink():
            return False
        stage = self.lock_dir.with_name(f"{self.lock_dir.name}.stage-{os.urandom(8).hex()}")
        marker = f"owner-{os.urandom(16).hex()}"
        try:
            stage.mkdir()
            (stage / marker).write_text(str(os.getpid()), encoding="ascii")
            stage.rename(self.lock_dir)
        except OSError as exc:
            import shutil

            shutil.rmtree(stage, ignore_errors=True)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                return False
            summary = f"Cannot take the Mux lock {self.lock_dir}: {exc.strerror or exc}"
            raise LockError(summary) from exc
        self._marker = self.lock_dir / marker
        return True

    def _held_error(self) -> LockError:
        summary = "Error acquiring the Mux providers lock"
        lines = [
            f"{self.lock_dir} exists: Mux or another provision is changing {self.target.name} "
            f"(waited {self.timeout:g}s)."
        ]
        try:
            age = time.time() - self.lock_dir.stat().st_mtime
            entries = [p for p in self.lock_dir.iterdir() if p.name.startswith("owner-")]
            pids = [int(t) for p in entries if (t := p.read_text().strip()).isdigit()]
        except (OSError, UnicodeDecodeError):
            return LockError(summary, diagnostics=[Diagnostic.error(summary, lines[0])])
        dead = bool(pids) and not any(pid_alive(pid) for pid in pids)
        if pids:
            state = "no longer running" if dead else "running"
            lines.append(f"Owner pid {', '.join(map(str, pids))}: {state}.")
        if dead or age > MUX_LOCK_STALE_AFTER:
            lines += [
                f"The lock looks stale (last changed {age:.0f}s ago"
                + (", its owner is gone)." if dead else ")."),
                f"If neither Mux nor provision is writing {self.target.name}, remove the "
                f"directory: rm -r {self.lock_dir}",
            ]
        else:
            lines.append("Retry when Mux has finished saving its settings.")
        return LockError(summary, diagnostics=[Diagnostic.error(summary, "\n".join(lines))])

    def release(self) -> None:
        marker, self._marker = self._marker, None
        if marker is None:
            return
        try:
            marker.unlink()
        except FileNotFoundError:
            return  # our lock was broken as stale; a successor may hold it now
        with contextlib.suppress(OSError):  # ENOTEMPTY: a successor's generation; ENOENT: gone
            self.lock_dir.rmdir()
