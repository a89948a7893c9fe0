"""The saved plan file format (`plan -out FILE`), version 2, as one JSON Schema (draft 2020-12).

`read_planfile` checks every plan file against this document before anything reads a field of
it, so a damaged or hand-edited file is one clear error, never a crash later on. The objects this
format owns are closed; `plan` is the `plan -json` document (planview), of which only what
`show PLANFILE` reads is required here.
"""

from __future__ import annotations

from typing import Any

PLANFILE_FORMAT = "provision-plan"
PLANFILE_VERSION = 2

ACTIONS = ("create", "update", "delete", "no-op")


def _digest(pattern: str, description: str, *, nullable: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "pattern": pattern,
                              "x-message": "Invalid digest for {path}"}
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "description": description}


def _closed(required: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": required,
            "additionalProperties": False}


# A file path as the OS takes it: no NUL byte (no argument and no path can hold one).
_PATH = {"type": "string", "pattern": "^[^\\x00]+$", "x-message": "Invalid path for {path}"}
_HMAC = "^hmac-sha256:[0-9a-f]{64}$"  # a file's content, keyed (planfile._digest)
_FINGERPRINT = "^hmac-sha256:[0-9a-f]{32}$"  # a secret's value, keyed (Secret.fingerprint)
_SHA256 = "^sha256:[0-9a-f]{64}$"  # a spec file (fsutil.sha256_file)
_COUNT = {"type": "integer", "minimum": 0}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"https://provision.dev/schema/plan-v{PLANFILE_VERSION}.json",
    "title": f"provision saved plan, format version {PLANFILE_VERSION}",
    **_closed({
        "format": {"const": PLANFILE_FORMAT},
        "format_version": {"const": PLANFILE_VERSION},
        "provision_version": {"type": "string", "description": "The provision that wrote it."},
        "created": {"type": "string", "description": "ISO 8601, UTC, whole seconds."},
        "state": {**_closed({"lineage": {"type": "string"}, "serial": _COUNT}),
                  "description": "The state the plan was made from (serial 0: no state)."},
        "spec": _closed({
            "root": {"type": "string"},
            "path": {**_PATH, "description": "The -f path, resolved; apply plans from it."},
            "files": {
                "type": "object",
                "description": "Every spec file read, resolved, with its digest then.",
                "propertyNames": {"pattern": "^[^\\x00]+$",
                                  "x-message": "Invalid path for {path}"},
                "additionalProperties": _digest(_SHA256, "null: it did not exist",
                                                nullable=True),
            },
        }),
        "var_args": {
            "type": "array",
            "description": "-var and -var-file in command-line order, sensitive -var left out.",
            "items": _closed({"kind": {"enum": ["var", "file"]},
                              "value": {"type": "string", "pattern": "^[^\\x00]*$",
                                        "x-message": "A NUL character in {path}"}}),
        },
        "targets": {"type": "array", "items": {"type": "string"}},
        "destroy": {"type": "boolean"},
        "changes": {
            "type": "array",
            "description": "What the plan decided, one entry per resource.",
            "items": _closed({
                "address": {"type": "string"},
                "action": {"enum": list(ACTIONS)},
                "path": _PATH,
                "before_digest": _digest(_HMAC, "null: no file", nullable=True),
                "after_digest": _digest(_HMAC, "null: no file", nullable=True),
                "mode": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 0o7777},
                                   {"type": "null"}]},
            }),
        },
        "secrets": {
            "type": "object",
            "description": "Each secret's fingerprint by where it is used; never its value.",
            "additionalProperties": _digest(_FINGERPRINT, "HMAC-SHA256, truncated"),
        },
        "plan": {
            "type": "object",
            "description": "The `plan -json` document, which `show PLANFILE` prints.",
            "required": ["resource_changes", "summary"],
            "properties": {
                "resource_changes": {"type": "array", "items": {
                    "type": "object",
                    "required": ["address", "path", "change"],
                    "properties": {
                        "address": {"type": "string"},
                        "path": {"type": "string"},
                        "change": {"type": "object", "required": ["actions"], "properties": {
                            "actions": {"type": "array", "minItems": 1,
                                        "items": {"enum": list(ACTIONS)}},
                        }},
                    },
                }},
                "summary": {"type": "object", "required": ["add", "change", "destroy"],
                            "properties": {"add": _COUNT, "change": _COUNT, "destroy": _COUNT}},
            },
        },
    }),
}
