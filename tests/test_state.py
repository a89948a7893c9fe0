from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pytest

from provision.errors import StateError
from provision.secrets import MASK, Secret
from provision.state import (
    ResourceState,
    State,
    backup_path,
    fingerprint_key,
    load_state,
    random_uuid,
    save_state,
    serialize_state,
    state_path,
    with_resource,
    without_resource,
)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def resource(address: str = "mux_providers.laptop", **overrides: object) -> ResourceState:
    fields: dict[str, object] = {
        "address": address,
        "type": address.split(".")[0],
        "name": address.split(".")[1],
        "path": "/home/dev/.mux/providers.jsonc",
        "sha256": "sha256:" + "0" * 64,
        "mode": 0o600,
        "managed_keys": ("anthropic", "openai"),
        "key_fingerprints": {"anthropic.apiKey": "hmac-sha256:" + "a" * 32},
    }
    fields.update(overrides)
    return ResourceState(**fields)  # type: ignore[arg-type]


def test_state_lives_beside_the_spec_root(tmp_path: Path) -> None:
    assert state_path(tmp_path) == tmp_path / ".provision" / "state.json"


def test_missing_state_is_fresh_and_not_written(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    state = load_state(path)
    assert state.version == 1
    assert state.serial == 0
    assert state.resources == {}
    assert uuid.UUID(state.lineage).version == 4
    assert load_state(path).lineage != state.lineage
    assert not path.parent.exists()


def test_random_uuids_are_version_4_in_uuid_text_form() -> None:
    made = [random_uuid() for _ in range(200)]
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert len(set(made)) == len(made)


def test_save_bumps_serial_keeps_lineage_and_round_trips(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    fresh = load_state(path)
    first = save_state(path, with_resource(fresh, resource()))
    assert (first.serial, first.lineage) == (1, fresh.lineage)
    second = save_state(path, without_resource(first, "mux_providers.laptop"))
    assert (second.serial, second.lineage) == (2, fresh.lineage)
    assert load_state(path) == second
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700


def test_file_is_sorted_indented_json_with_a_trailing_newline(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    saved = save_state(path, with_resource(State.fresh(), resource()))
    text = path.read_text()
    doc = json.loads(text)
    assert text == json.dumps(doc, sort_keys=True, indent=2) + "\n"
    assert text == serialize_state(saved)
    entry = doc["resources"]["mux_providers.laptop"]
    assert entry["mode"] == "0600"
    assert entry["managed_keys"] == ["anthropic", "openai"]
    assert (doc["version"], doc["serial"]) == (1, 1)
    assert load_state(path).resources["mux_providers.laptop"] == resource()


def test_previous_state_is_kept_as_backup(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    first = save_state(path, State.fresh())
    assert not backup_path(path).exists()
    first_text = path.read_text()
    save_state(path, with_resource(first, resource()))
    assert backup_path(path) == path.parent / "state.json.backup"
    assert backup_path(path).read_text() == first_text
    assert mode_of(backup_path(path)) == 0o600


def test_saving_a_stale_state_is_refused(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    loaded = save_state(path, State.fresh())
    save_state(path, with_resource(loaded, resource()))  # someone else's apply
    text = path.read_text()
    with pytest.raises(StateError, match="changed since it was read"):
        save_state(path, loaded)
    with pytest.raises(StateError, match="changed since it was read"):
        save_state(path, State.fresh())  # another lineage
    assert path.read_text() == text


def test_helpers_return_new_read_only_states() -> None:
    base = State.fresh()
    added = with_resource(base, resource())
    assert base.resources == {}
    assert set(added.resources) == {"mux_providers.laptop"}
    assert without_resource(added, "nope.nope") == added
    with pytest.raises(TypeError):
        added.resources["x"] = resource()  # type: ignore[index]
    with pytest.raises(TypeError):
        added.resources["mux_providers.laptop"].key_fingerprints["k"] = "v"  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"version": 1,\n "lineage": ', "Expecting value"),
        ("[]", "not a JSON object"),
        ('{"version": 2, "lineage": "x", "serial": 0, "resources": {}}', "Unsupported"),
        ('{"version": 1, "serial": 0, "resources": {}}', "state.lineage"),
        ('{"version": 1, "lineage": "x", "serial": true, "resources": {}}', "state.serial"),
        ('{"version": 1, "lineage": "x", "serial": 0, "resources": {"a.b": {}}}', "a.b"),
    ],
)
def test_invalid_state_files_are_errors_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = state_path(tmp_path)
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(StateError, match=message) as info:
        load_state(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("version", "advice"),
    [
        ("2", "A newer provision wrote this file"),
        ("0", "edited or damaged"),
        ('"1"', "edited or damaged"),
        ("true", "edited or damaged"),
        ("null", "edited or damaged"),
    ],
)
def test_a_state_version_no_provision_writes_is_not_called_newer(
    tmp_path: Path, version: str, advice: str
) -> None:
    path = state_path(tmp_path)
    path.parent.mkdir()
    path.write_text(f'{{"version": {version}, "lineage": "x", "serial": 0, "resources": {{}}}}')
    with pytest.raises(StateError) as info:
        load_state(path)
    (diagnostic,) = info.value.diagnostics
    assert advice in diagnostic.detail
    assert ("newer" in diagnostic.detail) == (version == "2")


def test_json_syntax_error_has_a_position(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{\n  "version": 1,\n  oops\n}\n')
    with pytest.raises(StateError) as info:
        load_state(path)
    span = info.value.diagnostics[0].span
    assert span is not None
    assert (span.filename, span.line, span.column) == (str(path), 3, 3)


def test_unreadable_state_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.mkdir()
    with pytest.raises(StateError, match="Cannot read state file") as info:
        load_state(path)
    assert str(path) in str(info.value)
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe")
    with pytest.raises(StateError, match="not UTF-8"):
        load_state(tmp_path / "bin.json")


@pytest.mark.parametrize("field", ["path", "key_fingerprints", "address"])
def test_a_known_secret_value_is_never_written(tmp_path: Path, field: str) -> None:
    path = state_path(tmp_path)
    saved = save_state(path, with_resource(State.fresh(), resource()))
    before = path.read_bytes()
    canary = Secret("canary-" + uuid.uuid4().hex)
    value = canary.reveal()
    leaky = {
        "path": resource(path=f"/tmp/{value}/providers.jsonc"),
        "key_fingerprints": resource(key_fingerprints={"openai.apiKey": value}),
        "address": resource(address=f"shell_exports.{value}"),
    }[field]
    with pytest.raises(StateError, match="would contain a secret value") as info:
        save_state(path, with_resource(saved, leaky))
    assert value not in str(info.value)
    assert value not in info.value.diagnostics[0].detail
    assert leaky.address.replace(value, MASK) in info.value.diagnostics[0].detail
    assert path.read_bytes() == before
    assert not backup_path(path).exists()


def test_fingerprint_key_is_private_stable_and_random(tmp_path: Path) -> None:
    state_dir = tmp_path / ".provision"
    key = fingerprint_key(state_dir)
    assert len(key) == 32
    assert mode_of(state_dir / "fingerprint.key") == 0o600
    assert mode_of(state_dir) == 0o700
    assert fingerprint_key(state_dir) == key
    assert fingerprint_key(tmp_path / "other") != key
    secret = Secret("sk-fingerprinted-value")
    assert secret.fingerprint(fingerprint_key(state_dir)) == secret.fingerprint(key)
    assert "sk-fingerprinted-value" not in secret.fingerprint(key)


def test_a_readable_or_damaged_fingerprint_key_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "fingerprint.key"
    fingerprint_key(tmp_path)
    key_file.chmod(0o644)
    with pytest.raises(StateError, match="lets others read it") as info:
        fingerprint_key(tmp_path)
    assert "chmod 600" in info.value.diagnostics[0].detail
    key_file.chmod(0o600)
    key_file.write_bytes(b"short")
    with pytest.raises(StateError, match="5 bytes instead of 32"):
        fingerprint_key(tmp_path)
