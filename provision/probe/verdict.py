"""What one request taught us (`Finding`) and the text shown for it.

Every string that leaves this package is built here or in classify from a status, a host and a
body snippet that went through `build.scrub`: never from a header, never from a raw exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from provision.probe import Outcome
from provision.probe.build import scrub
from provision.record import field, record

SNIPPET_CHARS = 200

# The fix to suggest when classify has nothing more specific.
DEFAULT_HINTS: Mapping[Outcome, str] = MappingProxyType(
    {
        "ok": "",
        "credential_rejected": "check that the credential is current and meant for this endpoint",
        "credential_missing": "configure a credential (api_key) for this endpoint",
        "billing": "the key works, but its account is out of credit or over its spend limit",
        "throttled": "the key works but is rate limited; probe again later",
        "wrong_url": "check the base URL and the provider type",
        "unreachable": "check the host name, the port and that the server is running",
        "timeout": "raise probe.timeout, or check the network and any proxy in between",
        "server_error": "the server is failing; probe again later",
        "not_ready": "the server is still loading its model; probe again in a moment",
        "insecure": "use https, or set allow_insecure: true if this network is trusted",
        "unverified": "",
        "skipped": "",
    }
)


@record
class Finding:
    outcome: Outcome
    reason: str
    hint: str = ""
    status: int | None = None
    model_count: int | None = None
    retryable: bool = False
    retry_after: float | None = None  # seconds the server asked for
    document: Any = field(default=None, repr=False)  # the parsed JSON of a successful answer

    @classmethod
    def of(cls, outcome: Outcome, reason: str, hint: str | None = None, **kw: Any) -> Finding:
        return cls(
            outcome=outcome,
            reason=reason,
            hint=DEFAULT_HINTS[outcome] if hint is None else hint,
            **kw,
        )


def snippet(body: bytes, secrets: tuple[str, ...] = ()) -> str:
    """A one-line, masked, truncated excerpt of a response body: the error message of a JSON
    error document where there is one, else the text."""
    text = body.decode("utf-8", errors="replace")
    try:
        message = _message(json.loads(text))
    except ValueError:
        message = None
    one_line = " ".join((message or text).split())
    one_line = scrub(one_line, secrets)
    if len(one_line) > SNIPPET_CHARS:
        one_line = one_line[: SNIPPET_CHARS - 1] + "…"
    return one_line


def _message(doc: object) -> str | None:
    """The human message of common error shapes: {"error": {"message"}}, {"error": "…"},
    {"message": "…"}, {"detail": "…"}, [{"error": …}] (Gemini batch style)."""
    if isinstance(doc, list) and doc:
        return _message(doc[0])
    if not isinstance(doc, dict):
        return None
    error = doc.get("error")
    if isinstance(error, dict):
        inner = error.get("message")
        if isinstance(inner, str):
            return inner
    for key in ("error", "message", "detail"):
        value = doc.get(key)
        if isinstance(value, str):
            return value
    return None


def status_reason(status: int, body: bytes, secrets: tuple[str, ...]) -> str:
    text = snippet(body, secrets)
    return f"HTTP {status}: {text}" if text else f"HTTP {status}"
