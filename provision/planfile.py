"""Saved plans (`plan -out FILE`, `apply FILE`) that hold no secret values.

A saved plan records what the plan saw and decided — state lineage and serial, each file's
digest before and after, the spec files' digests — and, for every secret, an HMAC fingerprint
under this machine's fingerprint key. `apply FILE` renders again (secrets are read again) and
refuses unless everything still matches: the plan is exactly what gets applied, or nothing is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provision import __version__
from provision.errors import ApplyError, Diagnostic
from provision.fsutil import RECORD_FILE_LIMIT, atomic_write, read_regular, sha256_file
from provision.model import Spec
from provision.plan import Plan, read_current
from provision.planfile_schema import PLANFILE_FORMAT, PLANFILE_VERSION, SCHEMA
from provision.planview import plan_json
from provision.record import record
from provision.secrets import REDACTOR, Secret, secrets_in
from provision.spec.jsonschema import validate
from provision.spec.source import SourceMap
from provision.spec.variables import VarArg


def spec_secrets(spec: Spec) -> dict[str, Secret]:
    """Every secret in the model, by where it is used (stable across runs)."""
    found: dict[str, Secret] = {}
    for d in spec.deployments.values():
        if d.coder is not None:
            found[f"{d.name}.coder.token"] = d.coder.token
        for p in d.providers.values():
            fields: dict[str, Any] = {"api_key": p.api_key, "headers": dict(p.headers),
                                      "options": dict(p.options)}
            for name, value in fields.items():
                for i, s in enumerate(secrets_in(value)):
                    found[f"{p.address}.{name}[{i}]"] = s
    for t in spec.targets.values():
        for i, s in enumerate(secrets_in(dict(t.options.get("env") or {}))):
            found[f"{t.address}.env[{i}]"] = s
    return {k: v for k, v in found.items() if v.known}


def safe_var_args(spec: Spec, var_args: Sequence[VarArg]) -> list[dict[str, str]]:
    """-var values of sensitive variables are not stored: they must come again at apply."""
    out = []
    for arg in var_args:
        name = arg.value.partition("=")[0].strip()
        if arg.kind == "var" and isinstance(spec.variables.get(name), Secret):
            continue
        out.append({"kind": arg.kind, "value": arg.value})
    return out


def write_planfile(path: Path, plan: Plan, spec_path: Path, var_args: Sequence[VarArg],
                   key: bytes) -> None:
    doc = {
        "format": PLANFILE_FORMAT,
        "format_version": PLANFILE_VERSION,
        "provision_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "state": {"lineage": plan.state.lineage, "serial": plan.state.serial},
        "spec": {"root": str(plan.spec.root), "path": str(spec_path.resolve()),
                 "files": {str(Path(f).resolve()): sha256_file(Path(f)) for f in plan.spec.files}},
        "var_args": safe_var_args(plan.spec, var_args),
        "targets": list(plan.targeted),
        "destroy": plan.destroy,
        "changes": [{
            "address": c.address, "action": c.action, "path": str(c.path),
            "before_digest": _digest(c.current, key),
            "after_digest": _digest(None if c.artifact is None else c.artifact.content, key),
            "mode": c.mode_after,
        } for c in plan.changes],
        "secrets": {k: s.fingerprint(key) for k, s in spec_secrets(plan.spec).items()},
        "plan": plan_json(plan),
    }
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if REDACTOR.redact(text) != text:
        raise ApplyError("refusing to write a plan file holding a secret value")
    atomic_write(path, text.encode(), 0o600)


def _digest(content: bytes | None, key: bytes) -> str | None:
    """Keyed, like secret fingerprints: a key file's plain SHA-256 would be the key's hash."""
    if content is None:
        return None
    return "hmac-sha256:" + hmac.new(key, content, hashlib.sha256).hexdigest()


@record
class SavedPlan:
    """A plan file read back for `apply FILE`: its path and JSON document (no secret values),
    whose shape read_planfile has checked; check_fresh compares it with a new plan."""

    path: Path
    doc: dict[str, Any]

    @property
    def var_args(self) -> tuple[VarArg, ...]:
        return tuple(VarArg(a["kind"], a["value"]) for a in self.doc["var_args"])

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.doc["targets"])

    @property
    def destroy(self) -> bool:
        return bool(self.doc["destroy"])

    @property
    def spec_path(self) -> Path:
        return Path(self.doc["spec"]["path"])


def read_planfile(path: Path) -> SavedPlan:
    """The plan file at path, checked whole against planfile_schema: any damage is one
    ApplyError here, so nothing that reads the document later can fail on its shape."""
    try:
        data = read_regular(path, RECORD_FILE_LIMIT)
    except OSError as exc:
        raise ApplyError(f"Cannot read plan file {path}: {exc.strerror or exc}") from None
    doc = _parse(path, data)
    if not isinstance(doc, dict) or doc.get("format") != PLANFILE_FORMAT:
        raise _invalid(path, "it is not a provision plan file")
    version = doc.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version != PLANFILE_VERSION:
        raise _other_version(path, version, doc.get("provision_version"))
    problems = validate(doc, SourceMap(), SCHEMA)
    if problems:
        more = [f"Also: {p.summary}" for p in problems[1:6]]
        if len(problems) > 6:
            more.append(f"… and {len(problems) - 6} more")
        raise _invalid(path, problems[0].summary, more)
    return SavedPlan(path=path, doc=doc)


def _parse(path: Path, data: bytes) -> Any:
    if not data.strip():
        raise _invalid(path, "the file is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(path, f"it is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                             f"{exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(path, f"it is not JSON ({exc.msg} at line {exc.lineno} column "
                             f"{exc.colno})") from None
    except RecursionError:
        raise _invalid(path, "it is nested too deeply to read") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise _invalid(path, f"it is not JSON that can be read ({exc})") from None


def _invalid(path: Path, problem: str, more: Sequence[str] = ()) -> ApplyError:
    summary = f"Invalid plan file {path}: {problem}"
    hint = ("Make a new plan with `provision plan -out FILE`: this file is damaged, or was not "
            "written by provision.")
    return ApplyError(summary, diagnostics=[Diagnostic.error(summary, "\n".join([*more, hint]))])


def _other_version(path: Path, version: int, writer: object) -> ApplyError:
    by = (f" by provision {writer}"
          if isinstance(writer, str) and writer.isprintable() and len(writer) <= 40 else "")
    age = "a newer" if version > PLANFILE_VERSION else "an older"
    summary = (f"Plan file {path} has {age} format (version {version}, written{by}): "
               f"provision {__version__} reads version {PLANFILE_VERSION}")
    hint = ("Apply it with the provision that made it, or make a new plan with this one."
            if version > PLANFILE_VERSION else "Make a new plan with `provision plan -out`.")
    return ApplyError(summary, diagnostics=[Diagnostic.error(summary, hint)])


def check_fresh(saved: SavedPlan, plan: Plan, key: bytes) -> None:
    """Refuse a saved plan that no longer describes what apply would do."""
    problems: list[str] = []
    st = saved.doc["state"]
    never_saved = st["serial"] == 0 and plan.state.serial == 0  # no state file either time
    if not never_saved and (st["lineage"], st["serial"]) != (plan.state.lineage,
                                                             plan.state.serial):
        if st["lineage"] == plan.state.lineage:
            problems.append(f"the state changed since the plan (serial {st['serial']} → "
                            f"{plan.state.serial})")
        elif st["serial"] == 0:
            problems.append(f"a state was created since the plan (serial {plan.state.serial})")
        else:
            problems.append("the state was replaced since the plan (lineage differs)")
    for name, digest in saved.doc["spec"]["files"].items():
        now = sha256_file(Path(name))
        if now != digest:
            problems.append(f"spec file {name} changed since the plan")
    now_secrets = {k: s.fingerprint(key) for k, s in spec_secrets(plan.spec).items()}
    for name, fingerprint in saved.doc["secrets"].items():
        if now_secrets.get(name) != fingerprint:
            problems.append(f"the secret used at {name} is not the one the plan was made with")
    fresh = {c.address: c for c in plan.changes}
    for c in saved.doc["changes"]:
        now_change = fresh.get(c["address"])
        on_disk = (read_current(Path(c["path"]))[0] if now_change is None
                   else now_change.current)
        if _digest(on_disk, key) != c["before_digest"]:  # the most specific cause first
            problems.append(f"{c['address']}: {c['path']} changed since the plan")
        elif now_change is None or now_change.action != c["action"]:
            problems.append(f"{c['address']}: the plan to {c['action']} it no longer holds")
        elif _digest(None if now_change.artifact is None else now_change.artifact.content,
                     key) != c["after_digest"]:
            problems.append(f"{c['address']}: the rendered content differs from the plan")
    extra = set(fresh) - {c["address"] for c in saved.doc["changes"]}
    problems.extend(f"{a}: not in the saved plan" for a in sorted(extra)
                    if fresh[a].action != "no-op")
    if problems:
        raise ApplyError("Saved plan is stale", diagnostics=[Diagnostic.error(
            f"Saved plan {saved.path} is stale",
            "\n".join(dict.fromkeys(problems)) + "\nRe-run plan.",
        )])
