"""Health history beside the state (`.provision/health.jsonl`), bounded, and its summary:
per endpoint the success rate over a rolling window, p50/p95 latency, last check and verdict
(seed 003). Records hold verdicts only — never a credential.

Concurrent probe runs append under an exclusive `flock` on `health.jsonl.lock`, which is never
replaced: cutting the file back replaces health.jsonl by a rename, so a lock on the data file
itself would let a writer that opened it just before the rename append to the orphaned file.
Where the filesystem cannot lock (some network mounts), the append goes ahead unlocked: the
history is a record of probes, not worth failing a probe run or an apply for.

It is read as a log: a line that is not a record as `append` writes it (torn by a killed run,
edited, damaged) is skipped and counted, and the rest is summarised.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from provision.errors import Diagnostic, ProvisionError
from provision.fsutil import RECORD_FILE_LIMIT, atomic_write, ensure_dir, read_regular_tail
from provision.probe import Verdict
from provision.record import record
from provision.state import history_lock_path, history_path

MAX_RECORDS = 5000  # the file is cut back to half this when it grows past it
WINDOW = 20  # checks per endpoint in the rolling window
# 9999-12-30T00:00Z, the last `time` shown as a local date in every time zone (datetime ends
# with the year 9999).
LAST_TIME = 253_402_128_000


def append(state_dir: Path, verdicts: Iterable[Verdict], *, when: float | None = None) -> None:
    stamp = time.time() if when is None else when
    lines = "".join(json.dumps({"time": stamp, **v.to_json()}, sort_keys=True) + "\n"
                    for v in verdicts)
    if not lines:
        return
    ensure_dir(state_dir)
    path = history_path(state_dir)
    try:
        _append_locked(path, history_lock_path(state_dir), lines.encode())
    except OSError as exc:
        raise ProvisionError(f"Cannot record the probe history in {exc.filename or path}: "
                             f"{exc.strerror or exc}") from None


def _append_locked(path: Path, lock_file: Path, data: bytes) -> None:
    # O_NONBLOCK: a FIFO in either place must fail or go ahead at once, not wait for a reader.
    lock = os.open(lock_file, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY, 0o600)
    try:
        import fcntl  # POSIX only: imported here so that importing this module never fails

        with contextlib.suppress(OSError):  # ENOLCK, EOPNOTSUPP: no locks on this filesystem
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the descriptor is closed
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | os.O_NOCTTY
        fd = os.open(path, flags, 0o600)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                # Made something else on purpose (a link to /dev/null turns the history off, a
                # FIFO streams it): written to as it is, and never read back or cut.
                _write_all(fd, data)
                return
            size = st.st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # end a killed run's torn line: it must not swallow ours
            _write_all(fd, data)
        finally:
            os.close(fd)
        _bound(path)
    finally:
        os.close(lock)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _bound(path: Path) -> None:
    """Cut the history back to its last MAX_RECORDS // 2 records once it holds more, or more
    than RECORD_FILE_LIMIT bytes (then from its tail, so that it cannot grow past being cut)."""
    data, cut = _tail(path)
    records = data.splitlines(keepends=True)
    if cut or len(records) > MAX_RECORDS:
        atomic_write(path, b"".join(records[-(MAX_RECORDS // 2):]), 0o600)


def _tail(path: Path) -> tuple[bytes, bool]:
    """The history's last RECORD_FILE_LIMIT bytes from a line's start, and whether it held more."""
    data, cut = read_regular_tail(path, RECORD_FILE_LIMIT)
    if cut:
        data = data[data.find(b"\n") + 1:] if b"\n" in data else b""
    return data, cut


@record
class History:
    """The records that could be read, oldest first, and a warning if some lines could not."""

    records: tuple[dict[str, Any], ...]
    warnings: tuple[Diagnostic, ...] = ()


def read(state_dir: Path) -> History:
    path = history_path(state_dir)
    try:
        data, _cut = _tail(path)
    except FileNotFoundError:
        return History(records=())
    except OSError as exc:
        return History(records=(), warnings=(Diagnostic.warning(
            f"Cannot read the probe history {path}: {exc.strerror or exc}"),))
    *lines, last = data.split(b"\n")
    records, skipped = [], 0
    for line in lines:
        parsed = _parse(line)
        if parsed is not None:
            records.append(parsed)
        elif line.strip():
            skipped += 1
    # A last line with no newline is being appended right now, or was torn by a killed run.
    parsed = _parse(last)
    if parsed is not None:
        records.append(parsed)
    if not skipped:
        return History(records=tuple(records))
    return History(records=tuple(records), warnings=(Diagnostic.warning(
        f"Skipped {skipped} unreadable line{'s' if skipped > 1 else ''} in {path}",
        "Not UTF-8, not JSON, or not a probe record; the other records are summarised."),))


def _parse(line: bytes) -> dict[str, Any] | None:
    """The record on line, if it holds every field summary reads, of the type append writes."""
    try:
        r = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not (isinstance(r, dict) and isinstance(r.get("address"), str)
            and isinstance(r.get("outcome"), str) and isinstance(r.get("passed"), bool)
            and isinstance(r.get("url"), str | None) and _number(r.get("time"), LAST_TIME)):
        return None
    status = r.get("status")
    if status is None or (isinstance(status, int) and _number(status, 999)
                          and _number(r.get("latency_ms"), 1e9)):
        return r
    return None


def _number(value: object, top: float) -> bool:
    """A JSON number in 0..top; NaN fails the comparison, and a huge int never reaches float."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= top


def summary(records: Iterable[dict[str, Any]], window: int = WINDOW) -> list[dict[str, Any]]:
    by_address: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_address.setdefault(r["address"], []).append(r)
    out = []
    for address, rs in sorted(by_address.items()):
        recent = rs[-window:]
        latencies = sorted(r["latency_ms"] for r in recent if r.get("status") is not None)
        last = recent[-1]
        out.append({
            "address": address,
            "url": last.get("url"),
            "checks": len(recent),
            "success_rate": sum(bool(r.get("passed")) for r in recent) / len(recent),
            "p50_ms": _percentile(latencies, 50),
            "p95_ms": _percentile(latencies, 95),
            "last_checked": last["time"],
            "last_outcome": last["outcome"],
            "last_status": last.get("status"),
        })
    return out


def _percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    # statistics brings fractions and random: ~3 ms that plan, which names this module's
    # files as provision's own, does not spend.
    import statistics

    return round(statistics.quantiles(values, n=100, method="inclusive")[pct - 1], 1)
