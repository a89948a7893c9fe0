"""What coderd and aibridged send back, for bridge-sim: their fixed bodies, the two shapes of
their replies, and how each reads the token a request presents.

The bodies are taken from their source (coder/coder coderd/httpmw/apikey.go, coderd/httpapi,
enterprise/aibridged/http.go, coder/aibridge bridge.go). coderd answers JSON; aibridged and
aibridge answer with Go's http.Error, plain text. Which request gets which reply is
`BridgeSim`'s choice (provision/probe/bridgesim.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from provision.record import record

_SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."
_USER_ID = "00000000-0000-4000-8000-000000000001"
_ORG_ID = "00000000-0000-4000-8000-000000000002"
_CREATED = "2025-01-01T00:00:00Z"
_OPENAI_MODELS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "object": "list",
        "data": [
            {"id": model, "object": "model", "created": 1754425777, "owned_by": "system"}
            for model in ("gpt-5", "gpt-5-mini", "gpt-4.1")
        ],
    }
)
_ANTHROPIC_MODELS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "data": [
            {"type": "model", "id": model, "display_name": name, "created_at": _CREATED}
            for model, name in (
                ("claude-sonnet-4-5", "Claude Sonnet 4.5"),
                ("claude-opus-4-1", "Claude Opus 4.1"),
                ("claude-haiku-4-5", "Claude Haiku 4.5"),
            )
        ],
        "has_more": False,
        "first_id": "claude-sonnet-4-5",
        "last_id": "claude-haiku-4-5",
    }
)
_USER: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "id": _USER_ID,
        "username": "sim-user",
        "name": "Sim User",
        "email": "sim-user@example.com",
        "status": "active",
        "login_type": "password",
        "created_at": _CREATED,
        "organization_ids": [_ORG_ID],
        "roles": [{"name": "owner", "display_name": "Owner"}],
    }
)
# Routes a real instance serves (bridged or passed upstream) that the simulator does not: they
# answer 501, so a user is not told their base URL is wrong when it is right.
_KNOWN_ROUTES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "openai": ("/v1/chat/completions", "/v1/responses", "/v1/conversations"),
        "anthropic": ("/v1/messages", "/v1/messages/count_tokens"),
    }
)


@record(kw_only=False)
class _Reply:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, doc: Mapping[str, Any], *headers: tuple[str, str]) -> _Reply:
    body = json.dumps(dict(doc), indent=2).encode() + b"\n"
    return _Reply(status, body, (("Content-Type", "application/json; charset=utf-8"), *headers))


def _go_error(status: int, message: str) -> _Reply:
    """What Go's http.Error writes: aibridged's and aibridge's errors are plain text."""
    return _Reply(
        status,
        message.encode() + b"\n",
        (("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")),
    )


def _bearer(headers: Mapping[str, str]) -> str | None:
    fields = headers.get("authorization", "").split()
    return fields[1] if len(fields) == 2 and fields[0].lower() == "bearer" else None


def _bridge_token(headers: Mapping[str, str]) -> str:
    """aibridge's ExtractAuthToken: Authorization: Bearer first, then X-Api-Key."""
    return _bearer(headers) or headers.get("x-api-key", "").strip()


def _session_detail(presented: str, token: str) -> str:
    """Why coderd rejects a session token: a format error, an unknown ID, or a wrong secret."""
    parts = presented.split("-")
    bad = "Invalid API key format: "
    if len(parts) != 2:
        return f"{bad}incorrect amount of API key parts, expected 2 got {len(parts)}"
    key_id, secret = parts
    if len(key_id) != 10:
        return f"{bad}invalid API key ID length, expected 10 got {len(key_id)}"
    if len(secret) != 22:
        return f"{bad}invalid API key secret length, expected 22 got {len(secret)}"
    if key_id == token.split("-")[0]:
        return "API key secret is invalid."
    return "API key is invalid."
