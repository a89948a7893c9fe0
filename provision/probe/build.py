"""From a catalog recipe step to a concrete request: its URL, its headers, the credential in them.

Pure functions, no network. A step that cannot become a request raises `BuildError` whose text
is safe to show (it never carries a secret value).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from provision.catalog import ProbeStep
from provision.probe import Endpoint, Outcome, sigv4
from provision.record import field, record, replace
from provision.secrets import MASK, REDACTOR, Secret
from provision.spec.build import is_loopback

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Header values go on the wire as visible ASCII; anything else makes httpx raise an error whose
# text quotes the value, so such a value is refused before a request is built.
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")
_JSON = "application/json"
_USER_AGENT = "provision-probe/0.1"

# (header, value template) per recipe auth scheme. "aws" with a credential is a Bedrock API key,
# sent as Bearer; without one, an access key pair in the settings signs the request (SigV4).
_AUTH: Mapping[str, tuple[str, str]] = {
    "bearer": ("Authorization", "Bearer {}"),
    "aws": ("Authorization", "Bearer {}"),
    "x-api-key": ("x-api-key", "{}"),
    "x-goog-api-key": ("x-goog-api-key", "{}"),
    "api-key": ("api-key", "{}"),
    "coder-session-token": ("Coder-Session-Token", "{}"),
    "github-token": ("Authorization", "token {}"),
}


class BuildError(Exception):
    def __init__(self, outcome: Outcome, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.outcome: Outcome = outcome
        self.reason = reason
        self.hint = hint


@record
class Step:
    """A recipe step with the endpoint's probe overrides applied."""

    spec: ProbeStep
    method: str
    expect: str  # a catalog ResponseShape, or "any_json"
    ok_statuses: frozenset[int]  # empty: any 2xx


@record
class Request:
    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes | None = field(repr=False)
    carries_secret: bool
    secrets: tuple[str, ...] = field(repr=False)  # every revealed value, to scrub from text


def steps_for(endpoint: Endpoint) -> tuple[Step, ...]:
    """The recipe's steps; probe overrides (path, method, expect) apply to the last one, which is
    the step that checks the credential in every recipe."""
    opts = endpoint.options
    steps = [
        Step(spec=s, method=s.method, expect=s.expect, ok_statuses=frozenset())
        for s in endpoint.recipe.steps
    ]
    last = steps[-1]
    spec = last.spec
    if opts.path is not None:
        spec = replace(spec, path=opts.path, root_path=None, url=None)
    steps[-1] = Step(
        spec=spec,
        method=(opts.method or last.method).upper(),
        expect=opts.expect_shape or last.expect,
        ok_statuses=frozenset(opts.expect_status),
    )
    return tuple(steps)


def placeholders(step: Step) -> set[str]:
    """What the step's target needs from captures or settings."""
    spec = step.spec
    return set(_PLACEHOLDER.findall(spec.path or spec.root_path or spec.url or ""))


def fill(template: str, captures: Mapping[str, str], settings: Mapping[str, str | Secret]) -> str:
    """Replace {name} with a capture of an earlier step, else a setting of the endpoint."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in captures:
            return captures[name]
        setting = settings.get(name)
        if isinstance(setting, Secret):
            raise BuildError("wrong_url", f"the URL needs setting {name!r}, which is a secret")
        if not setting:
            raise BuildError(
                "wrong_url", f"the URL needs setting {name!r}, which is not set", f"set {name}"
            )
        return setting

    return _PLACEHOLDER.sub(value, template)


def join(base: str, path: str) -> str:
    """`path` (which may carry a query) appended to the path of `base`: http://h/v1 + /models
    is http://h/v1/models, whether or not the base ends in a slash."""
    b, p = urlsplit(base), urlsplit(path)
    query = "&".join(q for q in (b.query, p.query) if q)
    return urlunsplit((b.scheme, b.netloc, b.path.rstrip("/") + p.path, query, ""))


def origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def step_url(endpoint: Endpoint, step: Step, base_url: str, captures: Mapping[str, str]) -> str:
    spec = step.spec
    if spec.path is not None:
        return join(base_url, fill(spec.path, captures, endpoint.settings))
    if spec.root_path is not None:
        return join(origin(base_url), fill(spec.root_path, captures, endpoint.settings))
    return fill(spec.url or "", captures, endpoint.settings)


def auth_scheme(endpoint: Endpoint, step: Step) -> str:
    if step.spec.auth == "none" or step.spec.credential is not None:
        return step.spec.auth
    return endpoint.auth_override or step.spec.auth


def build(
    endpoint: Endpoint, step: Step, url: str, credential: Secret | None, base_url: str
) -> Request:
    """The request for `step` at `url`, sending `credential` by the step's auth scheme."""
    spec = step.spec
    headers: dict[str, str] = {"Accept": _JSON, "User-Agent": _USER_AGENT}
    secrets: list[str] = []
    carries_secret = bool(urlsplit(url).password or urlsplit(url).username)

    def put(name: str, value: str | Secret) -> None:
        nonlocal carries_secret
        text = value if isinstance(value, str) else value.reveal()
        if isinstance(value, Secret):
            secrets.append(text)
            carries_secret = True
        if not _HEADER_VALUE.fullmatch(text):
            raise BuildError(
                "credential_rejected" if isinstance(value, Secret) else "wrong_url",
                f"the value of header {name} contains a line break or a non-ASCII character",
                "strip trailing newlines and whitespace from the value",
            )
        for existing in [k for k in headers if k.lower() == name.lower()]:
            del headers[existing]
        headers[name] = text

    extra: list[tuple[str, str | Secret | None]] = list(spec.headers.items())
    extra += [(name, endpoint.settings.get(key)) for name, key in spec.setting_headers.items()]
    # The spec's own headers belong to the endpoint the user configured, not to another host.
    if origin(url) == origin(base_url):
        extra += endpoint.headers.items()
    for name, value in extra:
        if value and (not isinstance(value, Secret) or value.known):
            put(name, value)
    scheme = auth_scheme(endpoint, step)
    if scheme != "none" and credential is not None and credential.known:
        header, template = _AUTH[scheme]
        secrets.append(credential.reveal())
        put(header, Secret(template.format(credential.reveal())))
    body = None
    if spec.body is not None and step.method == "POST":
        body = spec.body.encode()
        headers["Content-Type"] = _JSON
    keys = aws_keys(endpoint) if scheme == "aws" and credential is None else None
    if keys is not None:
        where = sigv4.service_and_region(urlsplit(url).hostname or "")
        if where is None:
            raise BuildError("unverified", "an access key pair signs requests to AWS hosts only",
                             "probe the default endpoint, or set bearer_token")
        access, secret = (k.reveal() for k in keys)
        secrets += [access, secret]
        for name, value in sigv4.sign(step.method, url, body or b"", access_key=access,
                                      secret_key=secret, service=where[0],
                                      region=where[1]).items():
            put(name, Secret(value) if name == "Authorization" else value)
    return Request(
        method=step.method,
        url=url,
        headers=headers,
        body=body,
        carries_secret=carries_secret,
        secrets=tuple(secrets),
    )


def aws_keys(endpoint: Endpoint) -> tuple[Secret, Secret] | None:
    """The endpoint's access key ID and secret access key settings, when both are known."""
    pair = endpoint.settings.get("access_key_id"), endpoint.settings.get("secret_access_key")
    if all(isinstance(k, Secret) and k.known for k in pair):
        return pair  # type: ignore[return-value]
    return None


def refuses_plain_http(request: Request, allow_insecure: bool) -> bool:
    """Whether `request` would carry a credential over plain http to another machine."""
    parts = urlsplit(request.url)
    return (
        request.carries_secret
        and parts.scheme == "http"
        and not allow_insecure
        and not is_loopback(parts.hostname or "")
    )


def display_url(url: str, secrets: tuple[str, ...] = ()) -> str:
    """`url` safe to show: no userinfo, every known secret value masked."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.netloc.rpartition("@")[2]
        url = urlunsplit(parts._replace(netloc=f"***@{host}"))
    return scrub(url, secrets)


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask the given values (and their escaped forms) and every value REDACTOR knows."""
    for value in sorted(secrets, key=len, reverse=True):
        if value:
            text = text.replace(value, MASK).replace(repr(value)[1:-1], MASK)
    return REDACTOR.redact(text)
