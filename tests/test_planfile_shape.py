"""Whatever a saved plan file holds, `apply FILE` and `show FILE` end in a clean exit: a plan
file is checked whole against provision/planfile_schema.py when it is read, so no later read of
a field can fail on its shape and leave a crash log."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.cli import main
from provision.errors import ApplyError
from provision.planfile import read_planfile
from provision.planfile_schema import SCHEMA
from provision.spec.jsonschema import check_schema

SPEC = {
    "version": 1,
    "variables": {"region": {"type": "string", "default": "eu"}},
    "deployments": {"dev": {"providers": {"openai": {
        "base_url": "http://127.0.0.1:9/${var.region}/v1", "api_key": {"env": "OPENAI_KEY"},
    }}}},
    "targets": {"sh": {"type": "shell_exports", "deployment": "dev", "path": "out/env.sh"}},
}

Key = str | int


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A real saved plan (with a -var, a -target and a secret) and the directory crash logs go
    to, with the environment apply needs for as long as the module's tests run."""
    base = tmp_path_factory.mktemp("planfile")
    root, crashes, home = base / "spec", base / "tmp", base / "home"
    for d in (root, crashes, home):
        d.mkdir()
    (root / "provision.yaml").write_text(yaml.safe_dump(SPEC))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("NO_COLOR", "1")
        mp.setenv("OPENAI_KEY", "sk-planfile-shape-0123456789")
        mp.setattr(tempfile, "tempdir", str(crashes))
        planfile = base / "p.plan"
        code, out = run("plan", "-f", root, "-var", "region=us", "-target", "shell_exports.sh",
                        "-out", planfile)
        assert code == 0, out
        yield crashes, json.loads(planfile.read_text())


def run(*args: Any) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main([str(a) for a in args])
    return code, out.getvalue()


def test_the_schema_compiles_whole() -> None:
    check_schema(SCHEMA)


def test_what_plan_out_writes_is_valid(planned: tuple[Path, dict[str, Any]],
                                       tmp_path: Path) -> None:
    path = tmp_path / "p.plan"
    path.write_text(json.dumps(planned[1]))
    saved = read_planfile(path)
    assert saved.targets == ("shell_exports.sh",)
    assert [a.value for a in saved.var_args] == ["region=us"]


def locations(doc: Any, at: tuple[Key, ...] = ()) -> Iterator[tuple[Key, ...]]:
    yield at
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(
        doc, list) else ()
    for k, v in items:
        yield from locations(v, (*at, k))


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6,
)


def mutate(doc: Any, data: st.DataObject) -> Any:
    """Drop a key or item, put a value of any type in place of one, or add a key."""
    where = data.draw(st.sampled_from(list(locations(doc))))
    how = data.draw(st.sampled_from(["drop", "swap", "add"]))
    if not where:
        return data.draw(VALUES) if how == "swap" else doc
    parent = doc
    for k in where[:-1]:
        parent = parent[k]
    if how == "drop":
        del parent[where[-1]]
    elif how == "swap":
        parent[where[-1]] = data.draw(VALUES)
    elif isinstance(parent[where[-1]], dict):
        parent[where[-1]][data.draw(st.text(max_size=6))] = data.draw(VALUES)
    return doc


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_shape_of_plan_file_crashes_apply_or_show(
    planned: tuple[Path, dict[str, Any]], tmp_path: Path, data: st.DataObject
) -> None:
    crashes, valid = planned
    doc = copy.deepcopy(valid)
    for _ in range(data.draw(st.integers(1, 3))):
        doc = mutate(doc, data)
    path = tmp_path / "mutated.plan"
    path.write_text(json.dumps(doc))
    for args in (("show", path), ("show", path, "-json"), ("apply", path, "--no-probe")):
        code, out = run(*args)
        assert code in (0, 1), out
        assert "unexpected error" not in out, out
    assert list(crashes.iterdir()) == []


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_damage_to_the_bytes_crashes_read_planfile(
    planned: tuple[Path, dict[str, Any]], tmp_path: Path, data: st.DataObject
) -> None:
    raw = bytearray(json.dumps(planned[1]).encode())
    cut = data.draw(st.integers(0, len(raw)))
    if data.draw(st.booleans()):
        raw[cut:] = b""
    elif cut < len(raw):
        raw[cut] = data.draw(st.integers(0, 255))
    path = tmp_path / "damaged.plan"
    path.write_bytes(bytes(raw))
    with contextlib.suppress(ApplyError):
        read_planfile(path)
