from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit import watch_publishing

from provision import fsutil
from provision.errors import ApplyError, ProvisionError
from provision.fsutil import (
    MANAGED_FILE_LIMIT,
    SECRET_FILE_LIMIT,
    SPEC_FILE_LIMIT,
    atomic_remove,
    atomic_write,
    create_exclusive,
    file_mode,
    read_regular,
    sha256_bytes,
    sha256_file,
)

ROOT = Path(__file__).resolve().parent.parent


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o755])
def test_final_file_has_exact_mode_and_content(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "out.env"
    old_umask = os.umask(0o077)  # fchmod, not the umask, decides the mode
    try:
        assert atomic_write(target, b"X=1\n", mode) is None
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"X=1\n"
    assert mode_of(target) == mode


def test_temp_file_is_private_before_the_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "providers.jsonc"
    target.write_text("old")
    target.chmod(0o644)
    seen: list[tuple[str, int, int]] = []
    real_write, real_replace = os.write, os.replace

    def spy_write(fd: int, data: bytes | memoryview) -> int:
        info = os.fstat(fd)
        seen.append(("write", stat.S_IMODE(info.st_mode), info.st_size))
        return real_write(fd, data)

    def spy_replace(src: str | Path, dst: str | Path) -> None:
        seen.append(("replace", mode_of(Path(src)), Path(src).stat().st_size))
        assert Path(src).parent == target.parent
        assert Path(src).name.startswith(".providers.jsonc.")
        real_replace(src, dst)

    monkeypatch.setattr(os, "write", spy_write)
    monkeypatch.setattr(os, "replace", spy_replace)
    atomic_write(target, b"sk-secret-content", 0o600)

    assert seen[0] == ("write", 0o600, 0)  # private while still empty
    assert all(m == 0o600 for _, m, _ in seen)
    assert seen[-1] == ("replace", 0o600, len(b"sk-secret-content"))
    assert mode_of(target) == 0o600


def test_missing_parents_are_created_private(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a" / "b" / "c" / "f", b"x", 0o600)
    finally:
        os.umask(old_umask)
    for d in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert mode_of(d) == 0o700


def test_existing_parent_mode_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir(mode=0o755)
    (tmp_path / "shared").chmod(0o755)
    atomic_write(tmp_path / "shared" / "f", b"x", 0o644)
    assert mode_of(tmp_path / "shared") == 0o755


def test_refuses_to_write_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.env"
    real.write_text("untouched")
    link = tmp_path / "link.env"
    link.symlink_to(real)
    with pytest.raises(ApplyError, match="symbolic link") as info:
        atomic_write(link, b"new", 0o600)
    assert str(link) in str(info.value)
    assert "follow_symlinks" in info.value.diagnostics[0].detail
    assert real.read_text() == "untouched"
    assert link.is_symlink()
    assert leftovers(tmp_path) == []


def test_follow_symlinks_writes_the_destination(tmp_path: Path) -> None:
    (tmp_path / "dotfiles").mkdir()
    real = tmp_path / "dotfiles" / "real.env"
    real.write_text("old")
    link = tmp_path / "link.env"
    link.symlink_to(real)
    atomic_write(link, b"new", 0o600, follow_symlinks=True)
    assert link.is_symlink()
    assert real.read_bytes() == b"new"
    assert mode_of(real) == 0o600


def test_backup_keeps_old_content_and_mode_with_a_timestamped_name(tmp_path: Path) -> None:
    target = tmp_path / "env.sh"
    target.write_text("old")
    target.chmod(0o640)
    first = atomic_write(target, b"new", 0o600, backup=True)
    second = atomic_write(target, b"newer", 0o600, backup=True)
    assert first is not None and second is not None
    assert re.fullmatch(r"env\.sh\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d~", first.name)
    assert first != second  # two backups in the same second do not overwrite each other
    assert re.fullmatch(r"env\.sh\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(\.\d+)?~", second.name)
    assert first.read_bytes() == b"old"
    assert mode_of(first) == 0o640
    assert second.read_bytes() == b"new"
    assert target.read_bytes() == b"newer"


def test_backup_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert atomic_write(tmp_path / "new", b"x", 0o600, backup=True) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]


def test_failed_replace_leaves_no_temp_file_and_the_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "providers.jsonc"
    target.write_text("old")

    def broken_replace(src: str | Path, dst: str | Path) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ApplyError) as info:
        atomic_write(target, b"new", 0o600)
    assert str(target) in str(info.value)
    assert os.strerror(errno.EIO) in str(info.value)
    assert leftovers(tmp_path) == []
    assert target.read_text() == "old"


def test_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(fd: int, data: bytes | memoryview) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(ApplyError, match="No space left"):
        atomic_write(tmp_path / "f", b"data", 0o600)
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def unblocked(fifo: Path, after: float = 2.0) -> Iterator[None]:
    """Bound a test of code that must never wait on a FIFO: should it block opening one (the bug),
    a writer comes and goes after `after` seconds, so the test fails instead of hanging."""
    done = threading.Event()

    def release() -> None:
        deadline = time.monotonic() + after + 10
        while not done.wait(after) and time.monotonic() < deadline:
            with contextlib.suppress(OSError):  # ENXIO: nobody is waiting to read
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=release)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=after + 15)


def made(kind: str, path: Path) -> Path:
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    return path


WHAT = {"fifo": "a FIFO", "directory": "a directory"}


@pytest.mark.parametrize("kind", WHAT)
def test_atomic_write_refuses_to_replace_anything_but_a_regular_file(
    tmp_path: Path, kind: str
) -> None:
    thing = made(kind, tmp_path / "out")
    with pytest.raises(ApplyError) as info, unblocked(thing):
        atomic_write(thing, b"data", 0o600)
    summary = f"Refusing to write {thing}: it is not a regular file ({WHAT[kind]})"
    assert info.value.diagnostics[0].summary == summary
    assert "Remove it, or choose another path" in info.value.diagnostics[0].detail
    assert stat.S_IFMT(thing.lstat().st_mode) == (stat.S_IFIFO if kind == "fifo" else stat.S_IFDIR)
    assert leftovers(tmp_path) == []


def test_atomic_write_through_a_followed_link_refuses_a_fifo_at_its_end(tmp_path: Path) -> None:
    fifo = made("fifo", tmp_path / "fifo")
    (tmp_path / "link").symlink_to(fifo)
    with pytest.raises(ApplyError, match=r"Refusing to write .*fifo: .*\(a FIFO\)"):
        atomic_write(tmp_path / "link", b"data", 0o600, follow_symlinks=True)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.parametrize("kind", WHAT)
def test_create_exclusive_refuses_anything_but_a_regular_file(tmp_path: Path, kind: str) -> None:
    thing = made(kind, tmp_path / "key")
    with pytest.raises(ApplyError, match=rf"Refusing to write .*key: .*\({WHAT[kind]}\)"):
        create_exclusive(thing, b"data", 0o600)
    assert leftovers(tmp_path) == []


def test_create_exclusive_leaves_a_link_alone(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    assert create_exclusive(tmp_path / "link", b"data", 0o600) is False
    assert not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]


def test_a_created_file_is_never_seen_empty_or_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "fingerprint.key"
    content = b"k" * 4096
    seen: list[bytes | None] = []

    def look() -> None:
        try:
            seen.append(path.read_bytes())
        except FileNotFoundError:
            seen.append(None)

    with monkeypatch.context() as patch:
        watch_publishing(patch, look)
        assert create_exclusive(path, content, 0o600) is True
    assert content in seen, "the file was never seen: nothing was watched"
    assert set(seen) == {None, content}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fingerprint.key"]
    assert mode_of(path) == 0o600


def test_create_exclusive_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "key"
    assert create_exclusive(path, b"first", 0o640) is True
    assert create_exclusive(path, b"second", 0o600) is False
    assert path.read_bytes() == b"first"
    assert mode_of(path) == 0o640
    assert leftovers(tmp_path) == []


# -- reading ---------------------------------------------------------------------------------


def test_read_regular_reads_a_file_up_to_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    (tmp_path / "link").symlink_to(path)
    assert read_regular(path, 5) == b"12345"
    assert read_regular(tmp_path / "link", 5) == b"12345"
    with pytest.raises(OSError, match="it is 5 bytes, over the 4 bytes limit for this kind"):
        read_regular(path, 4)


@pytest.mark.parametrize(
    ("size", "limit", "message"),
    [
        ((50 << 20) + 1, SECRET_FILE_LIMIT, "it is 50 MiB, over the 64 KiB limit"),
        ((3 << 19) + 1, SPEC_FILE_LIMIT, "it is 1.5 MiB, over the 1 MiB limit"),
        ((4 << 20) + 1, MANAGED_FILE_LIMIT, "it is 4 MiB, over the 4 MiB limit"),
    ],
)
def test_a_file_over_the_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, limit: int, message: str
) -> None:
    path = tmp_path / "big"
    with path.open("wb") as f:
        f.truncate(size)  # sparse
    with monkeypatch.context() as patch, pytest.raises(OSError, match=message) as info:
        patch.setattr(os, "open", None)  # the size alone decides: it is never opened
        read_regular(path, limit)
    assert info.value.errno == errno.EFBIG


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_a_file_larger_than_its_stat_says_is_read_no_further_than_the_limit() -> None:
    # /proc files are regular files of size 0 with content, like a file that grows meanwhile.
    with pytest.raises(OSError, match="it is larger than the 100 bytes limit"):
        read_regular(Path("/proc/self/status"), 100)


def test_read_regular_refuses_a_fifo_without_waiting(tmp_path: Path) -> None:
    fifo = made("fifo", tmp_path / "fifo")
    started = time.monotonic()
    with pytest.raises(OSError, match=r"it is not a regular file \(a FIFO\)$"), unblocked(fifo):
        read_regular(fifo, 100)
    assert time.monotonic() - started < 1


def test_a_fifo_swapped_in_after_the_check_is_refused_without_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    regular = tmp_path / "regular"
    regular.write_bytes(b"x")
    fifo = made("fifo", tmp_path / "fifo")
    real_stat = Path.stat
    monkeypatch.setattr(Path, "stat", lambda self, **kw: real_stat(regular))
    with pytest.raises(OSError, match=r"\(a FIFO\)"), unblocked(fifo):
        read_regular(fifo, 100)


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        (Path("/dev/zero"), OSError, r"^it is not a regular file \(a character device\)$"),
        (Path("/"), IsADirectoryError, r"^it is not a regular file \(a directory\)$"),
        (Path("/nonexistent-provision-test"), FileNotFoundError, "No such file"),
        (Path("a\0b"), OSError, "^its name contains a NUL character$"),
    ],
)
def test_read_regular_refuses_what_is_not_a_regular_file(
    path: Path, error: type[OSError], message: str
) -> None:
    with pytest.raises(error) as info:
        read_regular(path, 100)
    assert re.search(message, info.value.strerror or "")


def test_sha256_file_refuses_a_fifo(tmp_path: Path) -> None:
    fifo = made("fifo", tmp_path / "fifo")
    with pytest.raises(ProvisionError, match=r"Cannot read .*fifo: .*\(a FIFO\)"), unblocked(fifo):
        sha256_file(fifo)


def test_parent_that_is_a_file_is_an_apply_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ApplyError, match="a file is in the way"):
        atomic_write(tmp_path / "file" / "child", b"data", 0o600)


CHILD = """
import sys
from pathlib import Path
from provision.fsutil import atomic_write
target = Path(sys.argv[1])
contents = (b"A" * (2 << 20), b"B" * (2 << 20))
for i in range(5000):
    atomic_write(target, contents[i % 2], 0o600)
    if i == 0:
        print("ready", flush=True)
"""


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.45])
def test_sigkill_mid_write_leaves_the_old_or_the_new_file(tmp_path: Path, delay: float) -> None:
    target = tmp_path / "big.bin"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(target)], stdout=subprocess.PIPE, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"  # EOF (b"") if the child died early
        time.sleep(delay)
        assert child.poll() is None, "the child finished before it could be killed"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    data = target.read_bytes()
    assert data in (b"A" * (2 << 20), b"B" * (2 << 20))
    assert mode_of(target) == 0o600


def test_create_exclusive_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "d" / "key"
    assert create_exclusive(path, b"first", 0o600) is True
    assert create_exclusive(path, b"second", 0o600) is False
    assert path.read_bytes() == b"first"
    assert mode_of(path) == 0o600
    assert mode_of(tmp_path / "d") == 0o700


def test_create_exclusive_writes_nothing_while_the_name_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A held lock is polled with create_exclusive: each poll must not stage and sync a copy."""
    path = tmp_path / "lock"
    assert create_exclusive(path, b"held", 0o600) is True
    calls: list[str] = []
    for name in ("open", "fsync", "link"):
        real = getattr(os, name)
        monkeypatch.setattr(os, name, lambda *a, _n=name, _r=real, **k: (calls.append(_n),
                                                                         _r(*a, **k))[1])
    assert create_exclusive(path, b"ours", 0o600) is False
    assert calls == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock"]


def test_atomic_remove(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    assert atomic_remove(path) is True
    assert atomic_remove(path) is False
    real = tmp_path / "real"
    real.write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(real)
    assert atomic_remove(link) is True
    assert real.read_text() == "keep"


def test_digests_and_modes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    assert sha256_file(path) is None
    assert file_mode(path) is None
    assert sha256_file(tmp_path / "f" / "below-a-missing-file") is None
    path.write_bytes(b"abc")
    path.chmod(0o4640)
    expected = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_bytes(b"abc") == expected
    assert sha256_file(path) == expected
    assert file_mode(path) == 0o4640
    assert fsutil.file_mode(tmp_path) == mode_of(tmp_path)
