"""template: any file, from a user's Jinja2 template rendered in a sandbox.

The context is plain data; secrets stay `Secret`s, which render as "(sensitive value)":

    deployment  name, description, coder (url, token) or None when it has no Coder
    providers   one dict per provider of the target, in spec order: id, catalog, display_name,
                api, base_url, models (IDs), enabled, bridged, key_env, base_url_env, api_key
    target      name, path
    env         the target's environment variables (envvars.target_vars), name → value

A secret's value is reachable only through the `reveal` filter, and using it makes the
artifact sensitive (mode 0o600). The escaping filters return complete literals: `json`, `hcl`,
`shell` (POSIX), `fish`, `powershell`. Undefined names, syntax errors and sandbox violations
are diagnostics at the template's own file and line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from provision.errors import Diagnostic, DiagnosticsError, ProvisionError, Span
from provision.model import Provider, Spec, Target
from provision.render import Artifact, Rendered
from provision.render.envvars import target_vars
from provision.render.shell import quote_fish, quote_posix, quote_powershell
from provision.secrets import REDACTOR, Secret
from provision.spec.loader import display_name

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

__all__ = ["render"]


def render(spec: Spec, target: Target, existing: bytes | None) -> Rendered:
    template: Path = target.options["template"]
    revealed = False

    def reveal(value: Any) -> Any:
        nonlocal revealed
        revealed = True
        return value.reveal() if isinstance(value, Secret) else value

    text = _render(template, _context(spec, target), reveal, target)
    if target.path is None:
        raise DiagnosticsError(
            [Diagnostic.error(f'Target "{target.name}" needs a path', span=target.span)]
        )
    try:
        content = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DiagnosticsError(
            [
                Diagnostic.error(
                    f"Template {display_name(template)} produced text that is not valid Unicode",
                    f"A value holds a lone surrogate at output offset {exc.start}.",
                    target.span_of("template"),
                )
            ]
        ) from None
    artifact = Artifact(
        address=target.address,
        path=target.path,
        content=content,
        mode=0o600 if revealed else 0o644,
        sensitive=revealed,
    )
    return Rendered(artifacts=(artifact,))


def _context(spec: Spec, target: Target) -> dict[str, Any]:
    deployment = spec.deployments[target.deployment]
    coder = deployment.coder
    return {
        "deployment": {
            "name": deployment.name,
            "description": deployment.description,
            "coder": None if coder is None else {"url": coder.url, "token": coder.token},
        },
        "providers": [_provider(p) for p in spec.providers_of(target)],
        "target": {"name": target.name, "path": str(target.path)},
        "env": {var.name: var.value for var in target_vars(spec, target)},
    }


def _provider(p: Provider) -> dict[str, Any]:
    entry = p.catalog
    return {
        "id": p.id,
        "catalog": entry.id,
        "display_name": p.display_name or entry.display_name,
        "api": entry.api,
        "base_url": p.base_url,
        "models": [m.id for m in p.models],
        "enabled": p.enabled,
        "bridged": p.bridge is not None,
        "key_env": entry.key_env[0] if entry.key_env else None,
        "base_url_env": entry.base_url_env[0] if entry.base_url_env else None,
        "api_key": p.api_key,
    }


def _hcl(value: Any) -> str:
    from provision.render.hcl import quote

    return quote(str(value))


def _json(value: Any) -> str:
    # default=str: a Secret inside a structure becomes the mask, as it does everywhere else.
    return json.dumps(value, ensure_ascii=False, default=str)


def _json_body(text: str) -> str:
    return _json(text)[1:-1]


# The `json` filter's escapes, for the redactor; `hcl` and the shell filters register their
# own in provision.render.hcl and provision.render.shell.
REDACTOR.add_encoders(_json_body)


def _environment(
    template: Path, sources: dict[str, str], reveal: Callable[[Any], Any]
) -> SandboxedEnvironment:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    class Loader(FileSystemLoader):
        """Remembers each template's source, to quote the offending line in a diagnostic."""

        def get_source(self, environment: Any, name: str) -> tuple[str, str, Callable[[], bool]]:
            source, filename, uptodate = super().get_source(environment, name)
            sources[filename] = source
            return source, filename, uptodate

    class Sandbox(SandboxedEnvironment):
        def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
            # `.reveal()` on a secret would bypass the filter that marks the file sensitive.
            return not isinstance(obj, Secret) and super().is_safe_attribute(obj, attr, value)

    env = Sandbox(
        loader=Loader(str(template.parent)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        reveal=reveal,
        json=_json,
        hcl=_hcl,
        shell=lambda v: quote_posix(str(v)),
        fish=lambda v: quote_fish(str(v)),
        powershell=lambda v: quote_powershell(str(v)),
    )
    return env


def _render(
    template: Path, context: Mapping[str, Any], reveal: Callable[[Any], Any], target: Target
) -> str:
    from jinja2 import TemplateNotFound, TemplateSyntaxError

    sources: dict[str, str] = {}
    env = _environment(template, sources, reveal)
    try:
        compiled = env.get_template(template.name)
    except TemplateSyntaxError as exc:
        raise DiagnosticsError([_located(exc, exc.filename, exc.lineno, sources)]) from None
    except (TemplateNotFound, OSError, UnicodeDecodeError) as exc:
        why = _reason(exc)
        raise DiagnosticsError(
            [
                Diagnostic.error(
                    f"Cannot read template {display_name(template)}",
                    why,
                    target.span_of("template"),
                )
            ]
        ) from None
    try:
        return compiled.render(context)
    except Exception as exc:
        filename, line = _template_frame(exc.__traceback__, sources)
        raise DiagnosticsError([_located(exc, filename, line, sources)]) from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "The file is not valid UTF-8."
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return "The file does not exist or is not a regular file."


def _template_frame(
    tb: TracebackType | None, sources: Mapping[str, str]
) -> tuple[str | None, int | None]:
    """The innermost traceback entry in template code (Jinja rewrites those frames to carry
    the template's filename and line)."""
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in sources:
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _located(
    exc: Exception, filename: str | None, line: int | None, sources: Mapping[str, str]
) -> Diagnostic:
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError

    if isinstance(exc, TemplateSyntaxError):
        kind, message = "syntax error", exc.message or str(exc)
    elif isinstance(exc, UndefinedError):
        kind, message = "undefined value", str(exc)
    elif isinstance(exc, SecurityError):
        kind, message = "blocked by the sandbox", str(exc)
    elif isinstance(exc, ProvisionError | ValueError):
        kind, message = "error", str(exc)
    else:
        kind, message = "error", f"{type(exc).__name__}: {exc}"
    # A message may quote a revealed value (e.g. a missing key); mask it by value.
    message = REDACTOR.redact(message)
    span = detail = None
    if filename is not None:
        shown = display_name(Path(filename))
        span = Span(shown, line or 1, 1, line or 1, 1)
        lines = sources.get(filename, "").splitlines()
        if line is not None and 0 < line <= len(lines):
            source_line = lines[line - 1]
            span = Span(shown, line, 1, line, len(source_line) + 1)
            detail = f"{line:>4} | {source_line}"
    return Diagnostic.error(f"Template {kind}: {message}", detail or "", span)
