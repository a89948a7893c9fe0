"""Health history beside the state (`.provision/health.jsonl`), bounded, and its summary:
per endpoint the success rate over a rolling window, p50/p95 latency, last check and verdict
(seed 003). Records hold verdicts only — never a credential.

Concurrent probe runs append under an exclusive `flock` on `health.jsonl.lock`, which is never
replaced: cutting the file back replaces health.jsonl by a rename, so a lock on the data file
itself would let a writer that opened it just before the rename append to the orphaned file.
Where the filesystem cannot lock (some network mounts), the append goes ahead unlocked: the
history is a record of probes, not worth failing a probe run or an apply for.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from provision.fsutil import atomic_write, ensure_dir
from provision.probe import Verdict

HISTORY_FILENAME = "health.jsonl"
MAX_RECORDS = 5000  # the file is cut back to half this when it grows past it
WINDOW = 20  # checks per endpoint in the rolling window


def history_path(state_dir: Path) -> Path:
    return state_dir / HISTORY_FILENAME


def append(state_dir: Path, verdicts: Iterable[Verdict], *, when: float | None = None) -> None:
    stamp = time.time() if when is None else when
    lines = "".join(json.dumps({"time": stamp, **v.to_json()}, sort_keys=True) + "\n"
                    for v in verdicts)
    if not lines:
        return
    ensure_dir(state_dir)
    path = history_path(state_dir)
    lock = os.open(path.with_name(path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        import fcntl  # POSIX only: imported here so that importing this module never fails

        with contextlib.suppress(OSError):  # ENOLCK, EOPNOTSUPP: no locks on this filesystem
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the descriptor is closed
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, lines.encode())
        finally:
            os.close(fd)
        _bound(path)
    finally:
        os.close(lock)


def _bound(path: Path) -> None:
    records = path.read_bytes().splitlines(keepends=True)
    if len(records) > MAX_RECORDS:
        atomic_write(path, b"".join(records[-(MAX_RECORDS // 2):]), 0o600)


def read(state_dir: Path) -> list[dict[str, Any]]:
    path = history_path(state_dir)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line from a killed run: skip it, keep the rest
        if isinstance(record, dict) and "address" in record:
            out.append(record)
    return out


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
    return round(statistics.quantiles(values, n=100, method="inclusive")[pct - 1], 1)
