"""load → validate → resolve: from spec files to the frozen model.

`read_secrets=False` (what `provision validate` uses) checks everything but reads no secret
source: `{env: …}`, `{file: …}` and `{env_list: …}` become unknown secrets, as Terraform's
validate needs no credentials.

`deployment=NAME` (what `provision env -d NAME` uses) resolves that deployment alone: the whole
file is still checked against the schema and every variable still gets its value, but the other
deployments are not interpolated or built, so an environment variable or secret file only they
use need not exist, and the targets are left out (the top-level ones and those modules
contribute).

Every file a target writes, its own and the extra files its renderer adds (named by
`provision.render._paths`, from the spec alone), is checked here, so `validate` already refuses
two targets writing one file, a file where another target needs a directory, and (given
`Options.reserved`) a target writing one of provision's own files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from provision.catalog import load_catalog
from provision.errors import Diagnostic, Span, closest, raise_if_errors
from provision.model import Deployment, Provider, Spec, Target, frozen_map
from provision.record import field, record
from provision.render._paths import TargetFile, target_files
from provision.spec.build import Builder, misplaced_secrets
from provision.spec.interpolate import MISSING, Interpolator
from provision.spec.jsonschema import validate
from provision.spec.loader import load_spec
from provision.spec.modules import Contribution, Expander
from provision.spec.schema import spec_schema
from provision.spec.source import Document
from provision.spec.variables import (
    VarArg,
    auto_var_files,
    declarations,
    missing_required,
    values,
)


@record
class Resolved:
    """A resolved spec and the warnings found on the way; errors raise instead."""

    spec: Spec
    warnings: tuple[Diagnostic, ...]


@record
class Reserved:
    """What no target may write: provision's own files for the state in use, each with what it
    is, and the directories that are provision's alone, with everything in them."""

    state: Path | None = None
    files: tuple[tuple[Path, str], ...] = ()
    directories: tuple[Path, ...] = ()


@record
class Options:
    """How to resolve: the environment, -var/-var-file arguments, and whether to read secret
    sources (`validate` does not)."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    var_args: Sequence[VarArg] = ()
    read_secrets: bool = True
    deployment: str | None = None  # resolve this deployment alone, without targets
    reserved: Reserved = field(default_factory=Reserved)


def unknown_deployment(name: str, known: Sequence[str]) -> Diagnostic:
    """The error for a deployment name the spec does not have, with the closest one."""
    hint = closest(name, known)
    detail = f'Did you mean "{hint}"?' if hint else "Deployments: " + (
        ", ".join(known) or "(none)")
    return Diagnostic.error(f'No deployment "{name}" in the spec', detail)


def spec_root(path: Path) -> Path:
    return (path if path.is_dir() else path.parent).resolve()


def load(path: Path, options: Options | None = None) -> Resolved:
    """Load, validate and resolve the spec at path (a file or a directory)."""
    opts = options or Options()
    return resolve(load_spec(path), spec_root(path), opts)


def resolve(doc: Document, root: Path, opts: Options) -> Resolved:
    diags = validate(doc.data, doc.source, spec_schema())
    if not doc.data or "version" not in doc.data:
        diags.append(Diagnostic.error('Missing required key "version"',
                                      "Every spec starts with `version: 1`.", doc.source.at(())))
    raise_if_errors(diags)
    data: dict[str, Any] = doc.data
    if opts.deployment is not None:
        every = data.get("deployments") or {}
        if opts.deployment not in every:
            raise_if_errors([unknown_deployment(opts.deployment, list(every))])
        data = {**data, "deployments": {opts.deployment: every[opts.deployment]}}
        data.pop("targets", None)

    decls = declarations(data.get("variables") or {}, doc.source, ("variables",))
    var_values, var_diags = values(decls, env=opts.env, auto_files=auto_var_files(root),
                                   args=opts.var_args)
    diags += var_diags
    diags += missing_required(decls, var_values)

    interp = Interpolator(var_values, opts.env, doc.source)
    body = {k: interp.walk(data[k], (k,)) for k in ("deployments", "targets") if k in data}
    diags += interp.finish()
    raise_if_errors(diags)
    diags += validate(body, doc.source, spec_schema(), resolved=True)
    diags += misplaced_secrets(body, doc.source)
    raise_if_errors(diags)

    builder = Builder(catalog=load_catalog(), root=root, env=opts.env,
                      read_secrets=opts.read_secrets, diagnostics=diags)
    expander = Expander(spec_root=root, env=opts.env, diagnostics=diags,
                        targets=opts.deployment is None)
    deployments: dict[str, Deployment] = {}
    raw_targets: list[Contribution] = [
        Contribution(kind="targets", name=name, body=raw, source=doc.source,
                     path=("targets", name), module="")
        for name, raw in (body.get("targets") or {}).items()
    ]
    raw_providers: dict[str, dict[str, Any]] = {}
    for name, raw in (body.get("deployments") or {}).items():
        path = ("deployments", name)
        coder = builder.coder(raw.get("coder"), doc.source, (*path, "coder"))
        contributions = [
            Contribution(kind="providers", name=pid, body=praw, source=doc.source,
                         path=(*path, "providers", pid), module="")
            for pid, praw in (raw.get("providers") or {}).items()
        ]
        contributions += expander.expand(raw.get("use") or [], doc.source, (*path, "use"))
        providers = _providers(builder, name, coder, "coder" in raw, contributions)
        raw_providers[name] = {c.name: c.body for c in contributions if c.kind == "providers"}
        for c in contributions:
            if c.kind == "targets":
                raw_targets.append(Contribution(
                    kind="targets", name=f"{name}-{c.name}", body={**c.body, "deployment": name},
                    source=c.source, path=c.path, module=c.module))
        deployments[name] = Deployment(
            name=name, description=raw.get("description", ""), coder=coder,
            providers=frozen_map(providers), span=doc.source.key_at(path),
        )
    targets = _targets(builder, raw_targets, raw_providers)
    _check_paths(builder, targets, deployments, opts.reserved)
    raise_if_errors(diags)
    spec = Spec(
        root=root, files=doc.files,
        variables=frozen_map({k: v for k, v in var_values.items() if v is not MISSING}),
        deployments=frozen_map(deployments), targets=frozen_map(targets),
    )
    return Resolved(spec=spec, warnings=tuple(d for d in diags if not d.is_error))


def _providers(builder: Builder, deployment: str, coder: Any, coder_declared: bool,
               contributions: list[Contribution]) -> dict[str, Provider]:
    seen: dict[str, Span | None] = {}
    out: dict[str, Provider] = {}
    for c in contributions:
        if c.kind != "providers":
            continue
        span = c.source.key_at(c.path)
        if c.name in seen:
            via = f' (from module "{c.module}")' if c.module else ""
            builder.error(f'Provider "{c.name}" is defined twice in deployment "{deployment}"'
                          f"{via}", f"first defined at {seen[c.name]}", span)
            continue
        seen[c.name] = span
        provider = builder.provider(c.name, c.body, c.source, c.path, deployment, coder,
                                    coder_declared)
        if provider is not None:
            out[c.name] = provider
    return out


def _targets(builder: Builder, contributions: list[Contribution],
             providers: Mapping[str, Mapping[str, Any]]) -> dict[str, Target]:
    out: dict[str, Target] = {}
    for c in contributions:
        if c.name in out:
            builder.error(f'Target "{c.name}" is defined twice',
                          f"first defined at {out[c.name].span}", c.source.key_at(c.path))
            continue
        target = builder.target(c.name, c.body, c.source, c.path, providers)
        if target is not None:
            out[c.name] = target
    return out


def _check_paths(builder: Builder, targets: Mapping[str, Target],
                 deployments: Mapping[str, Deployment], reserved: Reserved) -> None:
    """Each file a target writes, its own and those its renderer adds, is that target's alone:
    no other target writes it or needs it as a directory, and it is none of provision's own
    files, nor inside or above them."""
    own = _Own(reserved)
    claims: dict[Path, tuple[Target, TargetFile]] = {}
    for target in targets.values():
        for f in target_files(target, _rendered_providers(target, deployments)):
            path = f.path.resolve()
            span = target.span_of(f.key)
            problem = own.problem(target, f, path)
            if problem is not None:
                builder.error(*problem, span)
                continue
            if path not in claims:
                claims[path] = (target, f)
                continue
            other, of = claims[path]
            if other is target:
                builder.error(f'Target "{target.name}" writes {path} twice',
                              f"As {of.what} and as {f.what}.", span)
                continue
            how = ("" if of.key == f.key == "path" else
                   f'"{other.name}" writes it as {of.what}, "{target.name}" as {f.what}.\n')
            builder.error(f'Targets "{other.name}" and "{target.name}" both write {path}',
                          f'{how}"{other.name}" is defined at {other.span}', span)
    reported: set[Path] = set()
    for inner, (other, of) in claims.items():
        outer = next((p for p in inner.parents if p in claims), None)
        if outer is None or outer in reported:
            continue
        reported.add(outer)
        target, f = claims[outer]
        who = "it needs itself" if other is target else f'target "{other.name}" needs'
        builder.error(f'Target "{target.name}" writes {outer}, a directory {who}',
                      f'"{other.name}" writes {inner} as {of.what}; "{other.name}" is defined at '
                      f"{other.span}", target.span_of(f.key))


class _Own:
    """provision's own paths, resolved once."""

    def __init__(self, reserved: Reserved) -> None:
        self.state = reserved.state
        self.files = {p.resolve(): what for p, what in reserved.files}
        self.directories = tuple(d.resolve() for d in reserved.directories)
        self.needed = {p for own in (*self.files, *self.directories) for p in own.parents}

    def problem(self, target: Target, f: TargetFile, path: Path) -> tuple[str, str] | None:
        """Why `target` may not write `path` (its file `f`), or None when it may."""
        which = "" if f.key == "path" else f"It is {f.what}. "
        name = f'Target "{target.name}" would write {path}'
        above = set(path.parents)  # once: each test of `in path.parents` walks them anew
        if path in self.files:
            return (f"{name}, provision's {self.files[path]}",
                    f"{which}Writing it would break every later run of provision with the "
                    f"state {self.state}. Give the target another path.")
        for directory in self.directories:
            if directory == path or directory in above:
                where = "," if directory == path else ", inside"
                return (f"{name}{where} provision's state directory {directory}",
                        f"{which}That directory holds provision's state, its backup and lock, the "
                        "fingerprint key and the probe health history, and nothing else.")
        for own, what in self.files.items():
            if own in above:
                return (f"{name}, inside provision's {what} {own}", f"{which}provision keeps "
                        f"that file for the state {self.state}.")
        if path in self.needed:
            own = next(o for o in (*self.files, *self.directories) if path in o.parents)
            return (f"{name}, a directory provision needs",
                    f"{which}provision keeps {own} inside it.")
        return None


def _rendered_providers(target: Target, deployments: Mapping[str, Deployment]
                        ) -> list[Provider]:
    """The providers a target renders, leaving out those that failed to build."""
    deployment = deployments.get(target.deployment)
    if deployment is None:
        return []
    names = deployment.providers if target.providers is None else target.providers
    return [deployment.providers[n] for n in names if n in deployment.providers]
