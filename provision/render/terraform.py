"""coder_agent_env: the target's environment variables as Terraform for a Coder template.

Styles (option `style`):
  coder_env  one `resource "coder_env"` per variable, attached to the agent (default)
  locals     `locals { <locals_name> = { … } }`, for `env = merge(local.<locals_name>, {…})`
  env_block  the bare `env = { … }` block to paste into a coder_agent (seed 002); what must
             live at the top level (variables, data sources) goes to a second file
  tf_json    the coder_env resources in Terraform JSON syntax (.tf.json)

AI Bridge values are Terraform expressions, never literals: the base URL is the workspace's
access URL plus the bridge path, the key is the workspace owner's session token. Every other
secret becomes a sensitive `variable` referenced as `var.<name>`, so no artifact ever holds a
secret value: they are all 0644 and not sensitive.
"""

from __future__ import annotations

import contextlib
import json
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provision.errors import Diagnostic, DiagnosticsError
from provision.model import Spec, Target
from provision.record import record
from provision.render import Artifact, Rendered, hcl
from provision.render._paths import declarations_file
from provision.render.envvars import EnvVar, target_vars
from provision.secrets import Secret

STYLES = ("coder_env", "locals", "env_block", "tf_json")
_DEFAULTS: Mapping[str, Any] = {
    "style": "coder_env",
    "agent": "coder_agent.main",
    "workspace_data": "data.coder_workspace.me",
    "owner_data": "data.coder_workspace_owner.me",
    "declare_data_sources": False,
    "locals_name": "provision_env",
}
_SUFFIX = {"coder_env": ".tf", "locals": ".tf", "env_block": ".hcl", "tf_json": ".tf.json"}


@record(kw_only=False)
class _Literal:
    """A plain string value, written as a quoted literal."""

    text: str


@record(kw_only=False)
class _Ref:
    """A bare reference (`var.x`, `data.….session_token`), or `"${ref}suffix"` with a suffix."""

    ref: str
    suffix: str | None = None


_Value = _Literal | _Ref


@record(kw_only=False)
class _Variable:
    """A sensitive Terraform `variable` carrying one secret; its description says how to set it."""

    name: str
    description: str


@record(kw_only=False)
class _Setting:
    """One environment variable of the file: its name, coder_env resource name and value."""

    env: str
    resource: str  # the coder_env resource name
    value: _Value


@record
class _Plan:
    """What the file says, independent of the syntax it is written in."""

    header: tuple[str, ...]
    agent: str
    data_sources: tuple[tuple[str, str], ...]  # (type, name) to declare
    variables: tuple[_Variable, ...]
    settings: tuple[_Setting, ...]


def render(spec: Spec, target: Target, existing: bytes | None) -> Rendered:
    """Render the whole file; `existing` is not needed (no merge: managed_keys is None)."""
    opts = {**_DEFAULTS, **target.options}
    style = opts["style"]
    path = target.path or spec.root / f"{target.name}{_SUFFIX[style]}"
    plan = _plan(spec, target, opts)
    if style == "tf_json":
        doc = _tf_json(plan)
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        return Rendered(artifacts=(_artifact(target.address, path, text, doc),))
    if style == "coder_env":
        body = [*_declarations(plan), *(_coder_env(plan, s) for s in plan.settings)]
        return Rendered(artifacts=(_artifact(target.address, path, _file(plan, body)),))
    env = hcl.Attr("env" if style == "env_block" else opts["locals_name"], _object(plan))
    if style == "locals":
        body = [*_declarations(plan), hcl.Block("locals", (), (env,))]
        return Rendered(artifacts=(_artifact(target.address, path, _file(plan, body)),))
    artifacts = [_artifact(target.address, path, _file(plan, [env]))]
    declarations = declarations_file(target, path)
    if declarations is not None and (plan.variables or plan.data_sources):
        artifacts.append(_artifact(f"{target.address}/declarations", declarations,
                                   _file(plan, _declarations(plan))))
    return Rendered(artifacts=tuple(artifacts))


def _plan(spec: Spec, target: Target, opts: Mapping[str, Any]) -> _Plan:
    diags: list[Diagnostic] = []

    def option_ref(key: str, min_parts: int) -> tuple[str, ...]:
        try:
            return hcl.reference(opts[key], min_parts=min_parts)
        except ValueError as exc:
            diags.append(
                Diagnostic.error(
                    f'Invalid {key} in target "{target.name}"',
                    f"{exc}.",
                    target.span_of(key),
                )
            )
            return ()

    declare = bool(opts["declare_data_sources"])
    agent = option_ref("agent", 2)
    data_parts = [option_ref(k, 3 if declare else 2) for k in ("workspace_data", "owner_data")]
    data_sources: list[tuple[str, str]] = []
    for key, parts in zip(("workspace_data", "owner_data"), data_parts, strict=True):
        if declare and parts and (len(parts) != 3 or parts[0] != "data"):
            diags.append(
                Diagnostic.error(
                    f'Cannot declare {key} "{opts[key]}" in target "{target.name}"',
                    "With declare_data_sources, it must be a data source address: "
                    "data.<type>.<name>.",
                    target.span_of(key),
                )
            )
        elif declare and parts:
            data_sources.append((parts[1], parts[2]))
    try:
        hcl.identifier(opts["locals_name"])
    except ValueError as exc:
        diags.append(
            Diagnostic.error(
                f'Invalid locals_name in target "{target.name}"',
                f"{exc}.",
                target.span_of("locals_name"),
            )
        )
    if diags:
        raise DiagnosticsError(diags)

    names = _Names()
    variables: list[_Variable] = []
    settings: list[_Setting] = []
    for var in target_vars(spec, target):
        value: _Value
        if var.bridged and var.role == "key":
            value = _Ref(f"{opts['owner_data']}.session_token")
        elif var.bridged and var.role == "base_url":
            if not var.bridge_suffix:
                diags.append(_cannot(target, var, "its provider has no AI Bridge route."))
                continue
            value = _Ref(f"{opts['workspace_data']}.access_url", var.bridge_suffix)
        elif isinstance(var.value, Secret):
            name = names.take("variable", var.name.lower())
            variables.append(_Variable(name, _describe(var, var.value, name)))
            value = _Ref(f"var.{name}")
        else:
            try:
                hcl.quote(var.value)
            except ValueError as exc:
                diags.append(_cannot(target, var, f"{exc}."))
                continue
            value = _Literal(var.value)
        settings.append(_Setting(var.name, names.take("resource", var.name.lower()), value))
    if diags:
        raise DiagnosticsError(diags)
    return _Plan(
        header=_header(spec, target),
        agent=".".join(agent),
        data_sources=tuple(data_sources),
        variables=tuple(variables),
        settings=tuple(settings),
    )


class _Names:
    """Unique Terraform names per namespace; a clash gets a numbered prefix (`env2_foo`)."""

    def __init__(self) -> None:
        self._taken: dict[str, set[str]] = {}

    def take(self, namespace: str, base: str) -> str:
        taken = self._taken.setdefault(namespace, set())
        name, n = hcl.identifier(base), 2
        while name in taken:
            name, n = f"env{n}_{base}", n + 1
        taken.add(name)
        return name


def _cannot(target: Target, var: EnvVar, why: str) -> Diagnostic:
    return Diagnostic.error(
        f'Cannot write {var.name} as Terraform in target "{target.name}"',
        why,
        var.span,
    )


def _describe(var: EnvVar, secret: Secret, name: str) -> str:
    who = f'provider "{var.provider}"' if var.provider else "the target's env"
    text = (
        f"{var.name} for {who}. Secret from {secret.origin} in the provision spec, never "
        f"written into Terraform: set it when pushing the template "
        f"(coder templates push --variable {name}=...)."
    )
    # The origin is a file path or a name from the spec: shown, never refused.
    return unicodedata.normalize("NFC", hcl.printable(text))


def _header(spec: Spec, target: Target) -> tuple[str, ...]:
    source = target.span.filename if target.span else ", ".join(spec.files)
    with contextlib.suppress(ValueError, OSError):
        source = Path(source).resolve().relative_to(spec.root).as_posix()
    return (
        f"Generated by provision from {hcl.printable(source)} (target {target.address}).",
        "Do not edit by hand: change the spec and run `provision apply`.",
    )


# -- native syntax ---------------------------------------------------------------------------


def _expr(value: _Value) -> str:
    if isinstance(value, _Literal):
        return hcl.quote(value.text)
    if value.suffix is None:
        return value.ref
    return f'"${{{value.ref}}}{hcl.quote(value.suffix)[1:-1]}"'


def _file(plan: _Plan, body: list[hcl.Node]) -> str:
    nodes: list[hcl.Node] = [hcl.Comment(line) for line in plan.header]
    for node in body:
        nodes += [hcl.BLANK, node]
    return hcl.format_body(nodes)


def _declarations(plan: _Plan) -> list[hcl.Node]:
    nodes: list[hcl.Node] = [hcl.Block("data", labels) for labels in plan.data_sources]
    nodes += [
        hcl.Block(
            "variable",
            (v.name,),
            (
                hcl.Attr("type", "string"),
                hcl.Attr("sensitive", "true"),
                hcl.Attr("description", hcl.quote(v.description)),
            ),
        )
        for v in plan.variables
    ]
    return nodes


def _coder_env(plan: _Plan, setting: _Setting) -> hcl.Block:
    return hcl.Block(
        "resource",
        ("coder_env", setting.resource),
        (
            hcl.Attr("agent_id", f"{plan.agent}.id"),
            hcl.Attr("name", hcl.quote(setting.env)),
            hcl.Attr("value", _expr(setting.value)),
        ),
    )


def _object(plan: _Plan) -> hcl.Object:
    return hcl.Object(tuple((hcl.object_key(s.env), _expr(s.value)) for s in plan.settings))


# -- JSON syntax -----------------------------------------------------------------------------


def _json_value(value: _Value) -> str:
    if isinstance(value, _Literal):
        return hcl.json_literal(value.text)
    return f"${{{value.ref}}}{hcl.escape_template(value.suffix or '')}"


def _tf_json(plan: _Plan) -> dict[str, Any]:
    # "//" is Terraform JSON syntax's comment property, allowed at the root.
    doc: dict[str, Any] = {"//": " ".join(plan.header)}
    if plan.data_sources:
        data: dict[str, dict[str, Any]] = {}
        for type_, name in plan.data_sources:
            data.setdefault(type_, {})[name] = {}
        doc["data"] = data
    if plan.variables:
        doc["variable"] = {
            v.name: {
                "type": "string",
                "sensitive": True,
                "description": hcl.json_literal(v.description),
            }
            for v in plan.variables
        }
    if plan.settings:
        doc["resource"] = {
            "coder_env": {
                s.resource: {
                    "agent_id": f"${{{plan.agent}.id}}",
                    "name": hcl.json_literal(s.env),
                    "value": _json_value(s.value),
                }
                for s in plan.settings
            }
        }
    return doc


def _artifact(address: str, path: Path, text: str, structured: Any = None) -> Artifact:
    return Artifact(
        address=address,
        path=path,
        content=text.encode("utf-8"),
        mode=0o644,
        sensitive=False,
        structured=structured,
    )
