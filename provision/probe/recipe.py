"""One probe's recipe, step by step, for one candidate credential: URLs, captures, which steps
may run (absolute-URL steps only with the default base URL), and whether the credential was
actually checked. The network is behind the `exchange` callable the engine passes in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from provision.probe import Endpoint
from provision.probe.build import (
    BuildError,
    Request,
    Step,
    auth_scheme,
    aws_keys,
    build,
    display_url,
    placeholders,
    refuses_plain_http,
    step_url,
    steps_for,
)
from provision.probe.classify import Context
from provision.probe.verdict import Finding
from provision.record import record
from provision.secrets import Secret

Exchange = Callable[[Request, Context], Awaitable[Finding]]


@record(frozen=False)
class Run:
    """One candidate credential's pass through the recipe."""

    finding: Finding
    sent: bool = False  # the last request carried the credential
    checked: bool = False  # a credential-checking step succeeded with a credential sent
    unchecked_why: str = ""  # why the credential could not be checked, and what would help
    unchecked_hint: str = ""
    model_count: int | None = None


async def run_recipe(endpoint: Endpoint, credential: Secret | None, exchange: Exchange) -> Run:
    """Run the recipe's steps in order with one candidate credential; the first failing step
    ends it."""
    run = Run(finding=Finding.of("ok", "no request was sent"))
    base_url = endpoint.effective_base_url
    steps = steps_for(endpoint)
    # Refuse before the first request, not halfway through the recipe.
    for step in steps:
        if step.spec.credential or _skipped(endpoint, step):
            continue
        try:
            request = build(
                endpoint, step, step_url(endpoint, step, base_url, {}), credential, base_url
            )
        except BuildError:
            continue  # reported when the step runs
        if refuses_plain_http(request, endpoint.allow_insecure):
            run.finding = _insecure(request)
            return run
    key_captures = {s.spec.credential for s in steps if s.spec.credential}
    captures: dict[str, str] = {}
    secret_captures: dict[str, Secret] = {}
    missing: set[str] = set()  # captures of steps that did not run
    for step in steps:
        spec = step.spec
        needs = placeholders(step) | ({spec.credential} if spec.credential else set())
        if _skipped(endpoint, step) or needs & missing:
            missing |= set(spec.capture)
            if spec.checks_credential:
                run.unchecked_why = (
                    "the key check uses a fixed provider host, contacted only when the base"
                    " URL is the catalog default"
                )
                run.unchecked_hint = "drop the custom base URL to have the key checked"
            continue
        scheme = auth_scheme(endpoint, step)
        sent = secret_captures.get(spec.credential) if spec.credential else credential
        if scheme == "none":
            sent = None
        elif scheme == "aws" and sent is None and aws_keys(endpoint) is None:
            run.unchecked_why = "there is no bearer token or access key pair to sign with"
            run.unchecked_hint = (
                "set bearer_token (AWS_BEARER_TOKEN_BEDROCK), or access_key_id and "
                "secret_access_key, to have the credential checked (a profile is not read)"
            )
            continue
        try:
            request = build(
                endpoint, step, step_url(endpoint, step, base_url, captures), sent, base_url
            )
        except BuildError as exc:
            run.finding = Finding.of(exc.outcome, exc.reason, exc.hint or None)
            return run
        if refuses_plain_http(request, endpoint.allow_insecure):
            run.finding = _insecure(request)
            return run
        run.sent = (sent is not None and sent.known) or (scheme == "aws" and sent is None)
        ctx = Context(
            recipe=endpoint.recipe,
            step=step,
            base_url=base_url,
            credential_sent=run.sent,
            secrets=request.secrets,
        )
        run.finding = await exchange(request, ctx)
        if run.finding.outcome != "ok":
            return run
        if run.finding.model_count is not None:
            run.model_count = run.finding.model_count
        run.checked = run.checked or (spec.checks_credential and run.sent)
        for name, path in spec.capture.items():
            value = _dig(run.finding.document, path)
            if value is None:
                missing.add(name)
                continue
            captures[name] = value
            if name in key_captures:
                secret_captures[name] = Secret(value)
    return run


def conclude(endpoint: Endpoint, run: Run, credential: Secret | None) -> Finding:
    """The recipe's answer once every step ran: ok only if the credential was actually checked
    (or there is none to check)."""
    finding = run.finding
    if finding.outcome != "ok" or run.checked:
        return finding
    has_credential = credential is not None or any(
        isinstance(v, Secret) for v in endpoint.headers.values()
    )
    why, hint = run.unchecked_why, run.unchecked_hint
    if not why and has_credential:
        why = "the endpoint is public, so the credential was not checked"
    if not why:
        return finding
    return Finding.of("unverified", f"{finding.reason}; {why}", hint, status=finding.status)


def primary_secret(endpoint: Endpoint) -> Secret | None:
    """The credential to rotate: the endpoint's, or for Bedrock its bearer_token setting."""
    if endpoint.credential is not None:
        return endpoint.credential
    token = endpoint.settings.get("bearer_token")
    uses_aws = any(s.auth == "aws" for s in endpoint.recipe.steps)
    return token if uses_aws and isinstance(token, Secret) else None


def first_url(endpoint: Endpoint) -> str:
    base = endpoint.effective_base_url
    step = steps_for(endpoint)[0]
    try:
        url = step_url(endpoint, step, base, {})
    except BuildError:
        url = step.spec.url or base
    return display_url(url)


def _skipped(endpoint: Endpoint, step: Step) -> bool:
    """A step with an absolute URL goes to a fixed provider host: only with the default base."""
    return step.spec.url is not None and not endpoint.default_base_url


def _insecure(request: Request) -> Finding:
    host = httpx.URL(request.url).host
    return Finding.of("insecure", f"refused to send a credential over plain http to {host}")


def _dig(document: object, path: str) -> str | None:
    for key in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document if isinstance(document, str) else None
