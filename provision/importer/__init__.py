"""`provision import mux`: an existing providers.jsonc as a spec that reproduces it.

This is the inverse of provision/render/mux.py and _mux_entries.py, and it proves itself: each
entry is translated to a provider, then that provider is resolved and rendered exactly as `plan`
would, with the file's own key values standing in for the environment. An entry whose rendering
differs from the file in any way is left out with a warning naming the Mux keys that would
change; it stays in the file as an entry provision does not manage, which merge-managed targets
keep untouched.
So `plan` on the imported spec, with the listed variables set, shows no changes.

Key values never leave memory: every credential (apiKey, the Coder token of a bridged entry,
Bedrock secrets, header values that look like credentials) becomes `{env: NAME}`, and only the
names are reported.

Translating an entry is `_translate`'s job; this module proves each translation and writes the
spec.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from provision.catalog import Catalog, load_catalog
from provision.errors import Diagnostic, DiagnosticsError, ProvisionError
from provision.fsutil import MANAGED_FILE_LIMIT, file_mode, read_regular
from provision.importer._translate import _Coder, _Translator, _Unmappable
from provision.record import field, record
from provision.render import render
from provision.render.jsonc import read_object
from provision.secrets import Origin, Secret, reveal_all
from provision.spec.build import default_mux_path
from provision.spec.resolve import Options, resolve
from provision.spec.schema import NAME_PATTERN
from provision.spec.yaml_loader import load_yaml

__all__ = ["EnvSetting", "Imported", "import_mux"]


@record
class EnvSetting:
    """An environment variable the imported spec reads a secret from."""

    name: str
    value: Secret = field(repr=False)  # the file's value; set the variable to it
    used_by: tuple[str, ...]  # e.g. ('openai: API key', 'anthropic: API key')


@record
class Imported:
    text: str  # the spec, YAML; holds no secret value
    source: Path
    imported: tuple[str, ...]  # entries the spec now manages, in file order
    left_out: tuple[str, ...]  # entries left to the file as unmanaged
    env: tuple[EnvSetting, ...]
    warnings: tuple[Diagnostic, ...]


def import_mux(
    source: Path | None = None,
    *,
    root: Path,
    env: Mapping[str, str],
    deployment: str = "default",
    target: str = "mux",
) -> Imported:
    """Read providers.jsonc (default: Mux's own) and build the spec that reproduces it.
    `root` is the directory the spec will live in. Raises ProvisionError."""
    for what, name in (("deployment", deployment), ("target", target)):
        if not re.fullmatch(NAME_PATTERN, name):
            raise ProvisionError(
                f'Invalid {what} name "{name}": use letters, digits, _ and -, '
                "starting with a letter or _"
            )
    path = source if source is not None else default_mux_path(env)
    try:
        content = read_regular(path, MANAGED_FILE_LIMIT)
    except OSError as exc:
        raise ProvisionError(f"Cannot read {path}: {exc.strerror or exc}") from None
    entries, _ = read_object(path, content, lambda _comment: True)
    shown = _display(path, env)
    importer = _Importer(load_catalog(), root, env, deployment, target, shown)
    warnings: list[Diagnostic] = []
    for key, entry in entries.items():
        reason = importer.add(key, entry)
        if reason is not None:
            warnings.append(
                Diagnostic.warning(
                    f'Entry "{key}" of {shown} is left out: {reason}',
                    "It stays in the file; provision will not manage it.",
                )
            )
    mode_warning = importer.check_whole(entries, content, file_mode(path))
    if mode_warning is not None:
        warnings.append(mode_warning)
    return Imported(
        text=importer.yaml_text(),
        source=path,
        imported=tuple(importer.providers),
        left_out=tuple(k for k in entries if k not in importer.providers),
        env=tuple(importer.env_settings()),
        warnings=tuple(warnings),
    )


class _Importer(_Translator):
    def __init__(
        self,
        catalog: Catalog,
        root: Path,
        env: Mapping[str, str],
        deployment: str,
        target: str,
        shown: str,
    ) -> None:
        super().__init__(catalog, Origin("file", shown))
        self.root = root
        self.env = env
        self.deployment = deployment
        self.target = target
        self.shown = shown
        self.providers: dict[str, dict[str, Any]] = {}
        self.uses: dict[str, list[str]] = {}

    # -- one entry -------------------------------------------------------------------------

    def add(self, key: str, entry: Any) -> str | None:
        """Import one entry; the reason when it is left out."""
        try:
            draft = self.translate(key, entry)
        except _Unmappable as exc:
            return str(exc)
        doc = self.document({key: draft.provider}, draft.coder)
        try:
            rendered, _ = self.render_entries(doc, draft.secrets, None)
        except DiagnosticsError as exc:
            first = next(d for d in exc.diagnostics if d.is_error)
            return f"provision cannot express it ({first.summary})"
        problem = _difference(entry, rendered.get(key))
        if problem is not None:
            return problem
        self.providers[key] = draft.provider
        self.coder = draft.coder or self.coder
        self.secrets.update(draft.secrets)
        for name, uses in draft.uses.items():
            self.uses.setdefault(name, []).extend(uses)
        return None

    # -- proof -----------------------------------------------------------------------------

    def document(self, providers: Mapping[str, Any], coder: _Coder | None) -> dict[str, Any]:
        dep: dict[str, Any] = {"description": f"Imported from {self.shown}"}
        if coder is not None:
            dep["coder"] = {"url": coder.url, "token": {"env": coder.env}}
        dep["providers"] = dict(providers)
        return {
            "version": 1,
            "deployments": {self.deployment: dep},
            "targets": {
                self.target: {
                    "type": "mux_providers",
                    "deployment": self.deployment,
                    "path": self.shown,
                }
            },
        }

    def render_entries(
        self, doc: dict[str, Any], secrets: Mapping[str, Secret], existing: bytes | None
    ) -> tuple[dict[str, Any], int]:
        """Resolve and render the document as plan would: the entries and the file mode."""
        values = {name: s.reveal() for name, s in secrets.items()}
        parsed = load_yaml(_dump(doc), "imported.yaml")
        spec = resolve(parsed, self.root, Options(env={**self.env, **values})).spec
        artifact = render(spec, spec.targets[self.target], existing).artifacts[0]
        return reveal_all(artifact.structured), artifact.mode

    def check_whole(
        self, entries: Mapping[str, Any], content: bytes, mode: int | None
    ) -> Diagnostic | None:
        """Render the whole spec against the file; any difference is a bug here."""
        if not self.providers:
            return None
        rendered, want_mode = self.render_entries(
            self.document(self.providers, self.coder), self.secrets, content
        )
        for key in self.providers:
            if _difference(entries[key], rendered.get(key)) is not None:
                raise ProvisionError(
                    f'Import could not reproduce entry "{key}" together with the '
                    "others; please report this."
                )
        if mode is None or mode == want_mode:
            return None
        return Diagnostic.warning(
            f"apply will change the mode of {self.shown} from {mode:04o} to {want_mode:04o}",
            "provision writes a file holding a key with mode 0600 and any other with 0644.",
        )

    # -- output ----------------------------------------------------------------------------

    def env_settings(self) -> list[EnvSetting]:
        return [
            EnvSetting(name=n, value=s, used_by=tuple(self.uses[n]))
            for n, s in self.secrets.items()
        ]

    def yaml_text(self) -> str:
        header = f"# Imported by `provision import mux` from {self.shown}.\n"
        if self.secrets:
            header += "# plan and apply read its keys from these environment variables:\n"
            header += "".join(f"#   {name}\n" for name in self.secrets)
        return header + _dump(self.document(self.providers, self.coder))


def _canonical(value: Any) -> str:
    # As plan compares entries: 1 and 1.0 differ, true and 1 differ, key order does not matter.
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _difference(original: Any, rendered: Any) -> str | None:
    """Which Mux keys rendering would change (names only: values may be secrets)."""
    if _canonical(original) == _canonical(rendered):
        return None
    if not isinstance(original, dict) or not isinstance(rendered, dict):
        return "provision would write it differently"
    verbs = {k: "dropped" for k in original if k not in rendered}
    verbs |= {k: "added" for k in rendered if k not in original}
    verbs |= {
        k: "changed"
        for k in original
        if k in rendered and _canonical(original[k]) != _canonical(rendered[k])
    }
    changes = [f"{k} would be {verb}" for k, verb in verbs.items()]
    return "provision would write it differently: " + "; ".join(changes)


def _display(path: Path, env: Mapping[str, str]) -> str:
    """The target path as the spec says it: ~/… under $HOME (the same file for every member of
    a team), else absolute. Never relative: the spec may be saved anywhere."""
    absolute = path.absolute()
    home = env.get("HOME")
    if home and absolute.is_relative_to(home):
        return "~/" + absolute.relative_to(home).as_posix()
    return str(absolute)


def _escape(value: Any) -> Any:
    """Every string value as spec text: `${` is interpolation there, `$${` a literal `${`."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    return value


def _dump(doc: Mapping[str, Any]) -> str:
    text = yaml.safe_dump(
        _escape(dict(doc)), sort_keys=False, allow_unicode=True, default_flow_style=None, width=100
    )
    return str(text)
