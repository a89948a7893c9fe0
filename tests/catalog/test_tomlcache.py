"""The parsed-TOML cache behind load_catalog: same document as tomllib, whatever state the cache
is in, and written only where and when Python would write bytecode."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from provision.catalog import tomlcache

TEXT = '[mux]\nids = ["a", "b"]\n\n[[providers]]\nid = "x"\nport = 8080\nlocal = true\n'


@pytest.fixture
def writing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    yield


def test_first_load_parses_and_writes_the_cache(tmp_path: Path, writing: None) -> None:
    src = tmp_path / "data.toml"
    src.write_text(TEXT)
    assert tomlcache.load(src) == tomllib.loads(TEXT)
    cache = tomlcache.cache_path(src)
    assert cache.parent == tmp_path / "__pycache__"
    assert cache.name == f"data.toml.{sys.implementation.cache_tag}.marshal"
    assert cache.is_file()
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary left


def test_second_load_reads_the_cache_not_the_toml(tmp_path: Path, writing: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "data.toml"
    src.write_text(TEXT)
    first = tomlcache.load(src)

    def refuse(_text: str) -> None:
        raise AssertionError("parsed the TOML although the cache is current")

    monkeypatch.setattr(tomllib, "loads", refuse)
    assert tomlcache.load(src) == first


def test_changed_source_is_parsed_again(tmp_path: Path, writing: None) -> None:
    src = tmp_path / "data.toml"
    src.write_text(TEXT)
    tomlcache.load(src)
    before = src.stat()
    changed = TEXT.replace("8080", "9090")  # same length; the mtime may not move either
    src.write_text(changed)
    os.utime(src, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert tomlcache.load(src)["providers"][0]["port"] == 9090


@pytest.mark.parametrize("junk", [b"", b"\x00garbage", b"\xe3\x03\x00\x00",
                                  b"\xa9\x03\x00\x00\x00i\x01\x00\x00\x00"])
def test_corrupt_cache_is_ignored_and_replaced(tmp_path: Path, writing: None,
                                               junk: bytes) -> None:
    src = tmp_path / "data.toml"
    src.write_text(TEXT)
    cache = tomlcache.cache_path(src)
    cache.parent.mkdir()
    cache.write_bytes(junk)
    assert tomlcache.load(src) == tomllib.loads(TEXT)
    assert cache.read_bytes() != junk


def test_nothing_written_when_python_writes_no_bytecode(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    src = tmp_path / "data.toml"
    src.write_text(TEXT)
    assert tomlcache.load(src) == tomllib.loads(TEXT)
    assert not (tmp_path / "__pycache__").exists()


def test_pycache_prefix_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "prefix"))
    src = tmp_path / "src" / "data.toml"
    src.parent.mkdir()
    src.write_text(TEXT)
    tomlcache.load(src)
    cache = tomlcache.cache_path(src)
    assert cache.is_file()
    # Where Python itself puts the bytecode of a module beside this file.
    assert cache.parent == Path(importlib.util.cache_from_source(str(src.parent / "m.py"))).parent
    assert cache.is_relative_to(tmp_path / "prefix")
    assert not (src.parent / "__pycache__").exists()


def test_unwritable_cache_place_goes_without_a_cache(tmp_path: Path, writing: None) -> None:
    src = tmp_path / "data.toml"
    src.write_text(TEXT)
    (tmp_path / "__pycache__").write_text("a file where the directory would go")
    for _ in range(2):
        assert tomlcache.load(src) == tomllib.loads(TEXT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["__pycache__", "data.toml"]


def test_invalid_toml_raises_and_caches_nothing(tmp_path: Path, writing: None) -> None:
    src = tmp_path / "data.toml"
    src.write_text('id = "x\n')
    with pytest.raises(tomllib.TOMLDecodeError):
        tomlcache.load(src)
    assert not tomlcache.cache_path(src).exists()


def test_cli_process_writes_then_uses_the_catalog_cache(tmp_path: Path) -> None:
    """Two fresh interpreters, as two commands would run: the first writes the catalog's cache
    under PYTHONPYCACHEPREFIX, the second finds it and never imports tomllib."""
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = ("import sys; from provision.catalog import load_catalog; "
            "n = len(load_catalog().entries); print(n, 'tomllib' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=60, check=True).stdout.split() for _ in range(2)]
    count = runs[0][0]
    assert int(count) > 20
    assert runs == [[count, "True"], [count, "False"]]
    tag = sys.implementation.cache_tag
    assert [p.name for p in tmp_path.rglob("*.marshal")] == [f"catalog.toml.{tag}.marshal"]


def test_the_cache_is_never_written_through_a_planted_symlink(tmp_path: Path,
                                                              writing: None) -> None:
    src = tmp_path / "data.toml"
    src.write_text(TEXT)
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    cache = tomlcache.cache_path(src)
    cache.parent.mkdir()
    for pid_guess in range(2):  # names a writer might have used; ours are unpredictable
        (cache.parent / f"{cache.name}.{os.getpid() + pid_guess}.tmp").symlink_to(victim)
    assert tomlcache.load(src) == tomllib.loads(TEXT)
    assert victim.read_text() == "untouched"
    assert cache.is_file() and not cache.is_symlink()
