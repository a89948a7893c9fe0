"""A file a user names that provision cannot sensibly read or replace, through the real CLI.

Every place provision reads a user-named file (spec, -var-file, `import mux`, a `{file: …}`
secret, a target's current content) meets a FIFO (an open would wait for a writer forever), a
link to /dev/zero (a read never ends), a directory and a file over the limit for its kind. Each
run must end promptly with exit 1 and a message naming the problem: no hang, no crash log, the
thing left as it was. So must writing over a FIFO, and a NUL character in a path of the spec.

Each run is a subprocess with a timeout and a cap on its memory, so a regression fails the test
instead of hanging it or exhausting the machine.
"""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from provision.fsutil import (
    MANAGED_FILE_LIMIT,
    RECORD_FILE_LIMIT,
    SECRET_FILE_LIMIT,
    SPEC_FILE_LIMIT,
)

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30
MEMORY_CAP = 2 << 30


def spec(directory: Path, *, key: str = "key.txt", target: str = "out/providers.jsonc") -> str:
    (directory / "key.txt").write_text("sk-special-files-0123\n")
    (directory / "spec.yaml").write_text(
        "version: 1\n"
        "deployments:\n"
        "  dev:\n"
        "    providers:\n"
        f'      mistral: {{api_key: {{file: "{key}"}}, probe: {{enabled: false}}}}\n'
        "targets:\n"
        f'  mux: {{type: mux_providers, deployment: dev, path: "{target}"}}\n'
    )
    return str(directory / "spec.yaml")


THING = "thing.yaml"
# Each read site: the command that reads THING, and the limit for its kind of file.
SITES: dict[str, tuple[Callable[[Path], list[str]], int]] = {
    "spec": (lambda d: ["validate", "-f", THING], SPEC_FILE_LIMIT),
    "var-file": (lambda d: ["validate", "-f", spec(d), "-var-file", THING], SPEC_FILE_LIMIT),
    "import": (lambda d: ["import", "mux", THING], MANAGED_FILE_LIMIT),
    "secret-file": (lambda d: ["plan", "-f", spec(d, key=THING)], SECRET_FILE_LIMIT),
    "target": (lambda d: ["plan", "-f", spec(d, target=THING)], MANAGED_FILE_LIMIT),
}


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVISION_", "MUX_"))}
    (directory / "tmp").mkdir(exist_ok=True)
    env.update(
        HOME=str(directory / "home"),
        TMPDIR=str(directory / "tmp"),  # where a crash log would go
        PYTHONPATH=str(ROOT),
        NO_COLOR="1",
    )
    return subprocess.run(
        [sys.executable, "-m", "provision", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
        preexec_fn=_cap_memory,
    )


def assert_refused(proc: subprocess.CompletedProcess[str], directory: Path, message: str) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert message in proc.stderr, output
    assert "unexpected error" not in output
    assert "Traceback" not in output
    assert list((directory / "tmp").iterdir()) == [], "a crash log was written"


def shown(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"


def make_fifo(thing: Path, limit: int) -> str:
    os.mkfifo(thing)
    return "it is not a regular file (a FIFO)"


def make_dev_zero(thing: Path, limit: int) -> str:
    thing.symlink_to("/dev/zero")  # only ever read
    return "it is not a regular file (a character device)"


def make_directory(thing: Path, limit: int) -> str:
    thing.mkdir()
    return "it is not a regular file (a directory)"


def make_too_large(thing: Path, limit: int) -> str:
    with thing.open("wb") as f:
        f.truncate(limit + 1)  # sparse: no disk written
    return f"over the {shown(limit)} limit for this kind of file"


KINDS = {
    "fifo": make_fifo,
    "dev-zero": make_dev_zero,
    "directory": make_directory,
    "too-large": make_too_large,
}
# Where a directory is not a mistake in the first place, or the site already said so its way.
DIRECTORY_MESSAGES = {
    "spec": f"No spec files in {THING}",
    "import": f"File '{THING}' is a directory",
    "target": f"{THING} is a directory, not a file",
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("site", SITES)
def test_a_file_that_cannot_be_read_is_refused_promptly(
    tmp_path: Path, site: str, kind: str
) -> None:
    command, limit = SITES[site]
    thing = tmp_path / THING
    message = KINDS[kind](thing, limit)
    if kind == "directory":
        message = DIRECTORY_MESSAGES.get(site, message)
    before = thing.lstat()
    proc = run(tmp_path, *command(tmp_path))
    assert_refused(proc, tmp_path, message)
    after = thing.lstat()
    assert (stat.S_IFMT(after.st_mode), after.st_size) == (
        stat.S_IFMT(before.st_mode),
        before.st_size,
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_a_probe_history_that_cannot_be_read_is_a_warning(tmp_path: Path, kind: str) -> None:
    spec_path = spec(tmp_path)
    history = tmp_path / ".provision" / "health.jsonl"
    history.parent.mkdir()
    message = KINDS[kind](history, RECORD_FILE_LIMIT)
    proc = run(tmp_path, "health", "-f", spec_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Cannot read the probe history {history}: {message}" in proc.stderr
    assert list((tmp_path / "tmp").iterdir()) == [], "a crash log was written"


def test_a_fifo_in_a_spec_directory_is_reported_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "a.yaml").write_text("version: 1\n")
    os.mkfifo(tmp_path / "spec" / "b.yaml")
    proc = run(tmp_path, "validate", "-f", "spec")
    assert_refused(proc, tmp_path, "Cannot read spec/b.yaml: it is not a regular file (a FIFO)")


def test_plan_out_over_a_fifo_is_refused_and_the_fifo_kept(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "saved.plan")
    proc = run(tmp_path, "plan", "-f", spec(tmp_path), "-out", "saved.plan")
    assert_refused(proc, tmp_path, "it is not a regular file (a FIFO)")
    assert "Refusing to write" in proc.stderr
    assert stat.S_ISFIFO((tmp_path / "saved.plan").lstat().st_mode)


@pytest.mark.parametrize(
    ("suffix", "text", "where"),
    [
        (
            ".yaml",
            "version: 1\n"
            "deployments:\n"
            "  dev:\n"
            "    providers:\n"
            "      ollama: {}\n"
            "targets:\n"
            '  sh: {type: shell_exports, deployment: dev, path: "out/x\\u0000y.sh"}\n',
            "spec.yaml:7:52",
        ),
        (
            ".yaml",
            "version: 1\n"
            "deployments:\n"
            "  dev:\n"
            "    providers:\n"
            '      mistral: {api_key: {file: "k\\u0000"}, probe: {enabled: false}}\n',
            "spec.yaml:5:33",
        ),
        (
            ".json5",
            "{version: 1, deployments: {dev: {providers: {\n"
            "  mistral: {api_key: {file: 'k\\0'}, probe: {enabled: false}}}}}}\n",
            "spec.json5:2:29",
        ),
    ],
    ids=["target-path", "secret-file", "json5-secret-file"],
)
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_nul_character_in_the_spec_is_reported_at_its_place(
    tmp_path: Path, suffix: str, text: str, where: str, command: str
) -> None:
    (tmp_path / f"spec{suffix}").write_text(text)
    proc = run(tmp_path, command, "-f", f"spec{suffix}")
    assert_refused(proc, tmp_path, f"{where}: error: Text cannot contain a NUL character (U+0000)")
