"""The plan for people (Terraform-style text with key-level and unified diffs) and for machines
(a versioned JSON document). Secrets are masked by value and, on the side read from disk, by
key name too: an old key that this run never loaded must not show in a diff either."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

from provision import __version__
from provision.plan import Change, Plan
from provision.report import JSON_FORMAT_VERSION, Output
from provision.secrets import MASK, REDACTOR, Secret, mask, reveal_all

# Patterns for what is on disk, which a first plan has none of: left to re's cache, so that they
# are compiled when first used rather than by every plan's start-up.
_SENSITIVE_NAME = r"(?i)key|token|secret|password|passwd|authorization|credential"
_ASSIGNMENT = r"^\s*(?:export\s+|set\s+-gx\s+|\$env:)?([A-Za-z_][A-Za-z0-9_]*)"
# A line that really assigns a name (shell, fish, PowerShell, dotenv, INI/TOML, YAML), as opposed
# to one that merely starts with a word, like a bare key "sk-…".
_ASSIGNS = (r"^\s*(?:export\s+\w+=|set\s+-gx\s+\w+\s|\$env:\w+\s*=|[A-Za-z_][\w.-]*\s*=|"
            r"[\"']?[A-Za-z_][\w.-]*[\"']?\s*:\s)")
CHANGED = "(sensitive value, changed)"
SYMBOLS = {"create": "+", "update": "~", "delete": "-", "no-op": " "}
VERBS = {"create": "will be created", "update": "will be updated in-place",
         "delete": "will be destroyed", "no-op": "is unchanged"}


def mask_disk(value: Any, key: str = "") -> Any:
    """Mask a value read from disk: known secrets by value, sensitive-looking keys by name."""
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {k: mask_disk(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_disk(v, key) for v in value]
    if isinstance(value, str):
        return MASK if key and re.search(_SENSITIVE_NAME, key) else REDACTOR.redact(value)
    return value


def _sensitive_marks(masked: Any) -> Any:
    if isinstance(masked, dict):
        return {k: _sensitive_marks(v) for k, v in masked.items()}
    if isinstance(masked, list):
        return [_sensitive_marks(v) for v in masked]
    return isinstance(masked, str) and MASK in masked


def _after_marks(change: Change, after: Any) -> Any:
    """The text of a file that holds a secret is sensitive whole, whether or not masking by
    value found the secret in it (a value too short to mask, a form not registered)."""
    if isinstance(after, str) and change.sensitive:
        return True
    return _sensitive_marks(after)


def _views(change: Change) -> tuple[Any, Any]:
    if _is_secret_file(change):
        # A key file is the secret itself: show nothing of it, however short the key.
        return (None if change.current is None else MASK), MASK
    before = mask_disk(change.before) if isinstance(change.before, dict) else (
        _mask_text(change.before, change.after, sensitive=_holds_secrets(change))
        if isinstance(change.before, str) else None)
    after = mask(change.after) if change.after is not None else None
    return before, after


def _is_secret_file(change: Change) -> bool:
    artifact = change.artifact
    return (artifact is not None and artifact.sensitive and artifact.structured is None
            and artifact.content.rstrip(b"\n").count(b"\n") == 0)


def _holds_secrets(change: Change) -> bool:
    """The new file holds a secret, or (a delete) the old one is private as such files are."""
    if change.artifact is not None:
        return change.artifact.sensitive
    return change.current_mode is not None and not change.current_mode & 0o077


def _mask_text(before: str, after: Any, *, sensitive: bool = False) -> str:
    """Mask what the old text may hold of a secret this run never loaded (a rotated key):

    - a line that assigns a variable whose new value is secret, or whose name looks sensitive;
    - in a file that holds secrets, a line shaped like a new line with a secret in it (same
      text around the secret), at the secret's place; any other line that does not assign a
      name and is not a comment, whole (a bare key, as in a key file).

    A line the new text has unchanged is masked as the new text is, so it stays a context line.
    """
    secret_names = set()
    kept: set[str] = set()
    shapes: list[list[str]] = []
    if isinstance(after, str):
        kept = set(after.splitlines())
        for line in REDACTOR.redact(after).splitlines():
            if MASK in line:
                shapes.append(line.split(MASK))
                if m := re.match(_ASSIGNMENT, line):
                    secret_names.add(m.group(1))
    out = []
    for raw in before.splitlines(keepends=True):
        line = REDACTOR.redact(raw)
        if raw.rstrip("\r\n") in kept:
            out.append(line)
            continue
        end = "\n" if line.endswith("\n") else ""
        m = re.match(_ASSIGNMENT, line)
        if m and (m.group(1) in secret_names or re.search(_SENSITIVE_NAME, m.group(1))):
            line = f"{line[: m.end()]} {MASK}{end}"
        elif sensitive and (shaped := _shaped(line.rstrip("\r\n"), shapes)) is not None:
            line = shaped + end
        elif sensitive and not re.match(_ASSIGNS, line) and line.strip() \
                and not line.lstrip().startswith(("#", "//")):
            line = MASK + end
        out.append(line)
    return "".join(out)


def _shaped(line: str, shapes: list[list[str]]) -> str | None:
    """line with the secret's places masked, when it has the text around them of a new line."""
    for parts in shapes:
        head, *middle, tail = parts
        if not (line.startswith(head) and line.endswith(tail)):
            continue
        pos, stop = len(head), len(line) - len(tail)
        for piece in middle:
            found = line.find(piece, pos + 1, stop)
            if found < 0:
                break
            pos = found + len(piece)
        else:
            if pos < stop:
                return MASK.join(parts)
    return None


# -- human -----------------------------------------------------------------------------------

def show_plan(plan: Plan, out: Output) -> None:
    for d in plan.warnings:
        out.diagnostics([d])
    drifted = [c for c in plan.changes if c.drift]
    if drifted:
        out.out("")
        out.out(out.style("Objects have changed outside provision", "yellow", "bold"))
        for c in drifted:
            out.out(f"  # {c.address} ({c.path}): {c.drift_reason}")
    visible = [c for c in plan.changes if c.action != "no-op"]
    if not visible:
        out.out("")
        out.out(out.style("No changes.", "green", "bold")
                + " Your files match the spec.")
        return
    out.out("")
    out.out("provision will perform the following actions:")
    for c in visible:
        out.out("")
        color = {"create": "green", "update": "yellow", "delete": "red"}[c.action]
        out.out(f"  # {c.address} {VERBS[c.action]}"
                + (out.style("  (changed outside provision)", "yellow") if c.drift else ""))
        out.out(out.style(f"  {SYMBOLS[c.action]} {c.address}", color, "bold") + f"  ({c.path})")
        for line in change_lines(c):
            out.out(f"      {line}")
    out.out("")
    out.out(summary_line(plan))
    if plan.env_required:
        out.out("")
        out.out("The rendered files read these from the environment at run time: "
                + ", ".join(plan.env_required))


def summary_line(plan: Plan) -> str:
    return (f"Plan: {plan.count('create')} to add, {plan.count('update')} to change, "
            f"{plan.count('delete')} to destroy.")


def change_lines(change: Change) -> Iterator[str]:
    before, after = _views(change)
    secret_file = change.artifact if _is_secret_file(change) else None
    if secret_file is not None:
        if change.current != secret_file.content:
            yield f"{SYMBOLS[change.action]} {MASK}"
    elif isinstance(before, dict) or isinstance(after, dict):
        yield from _structured_lines(change, before or {}, after or {})
    else:
        lines = list(_text_lines(before or "", after or ""))
        yield from lines
        if not lines and change.current is not None and change.artifact is not None \
                and change.current != change.artifact.content:
            yield f"~ {CHANGED}"  # only a secret changed: both sides are masked alike
    if change.current_mode is not None and change.mode_after is not None \
            and change.current_mode != change.mode_after:
        yield f"~ mode: {change.current_mode:04o} -> {change.mode_after:04o}"
    elif change.action == "create" and change.mode_after is not None:
        yield f"+ mode: {change.mode_after:04o}"
    if change.artifact is not None and change.artifact.sensitive:
        yield "# (holds secrets; written with mode 0600)"


def _structured_lines(change: Change, before: dict[str, Any], after: dict[str, Any]
                      ) -> Iterator[str]:
    raw_before = reveal_all(change.before) if isinstance(change.before, dict) else {}
    raw_after = reveal_all(change.after) if isinstance(change.after, dict) else {}
    touched: set[str] = set()
    lines: list[tuple[str, str]] = []
    for kind, path in _key_changes(raw_before, raw_after):
        touched.add(str(path[0]) if path else "")
        shown = _dotted(path)
        old, new = _at(before, path), _at(after, path)
        if kind == "added":
            lines.extend((p, f"+ {p}: {_short(v)}") for p, v in _leaves(path, new))
        elif kind == "removed":
            lines.extend((p, f"- {p}: {_short(v)}") for p, v in _leaves(path, old))
        else:
            if old == new == MASK:
                old, new = MASK, CHANGED
            lines.append((shown, f"~ {shown}: {_short(old)} -> {_short(new)}"))
    for _, line in sorted(lines):
        yield line
    unchanged = len([k for k in after if k not in touched and k in before])
    if unchanged:
        yield f"# ({unchanged} unchanged entr{'y' if unchanged == 1 else 'ies'} hidden)"


def _key_changes(before: dict[str, Any], after: dict[str, Any]
                 ) -> Iterator[tuple[str, list[Any]]]:
    """("added" | "removed" | "changed", path) for each difference between two documents."""
    if not before or not after:
        # A file created or deleted whole: every top-level key, and no need for deepdiff (a
        # quarter of a plan's wall time to import), which the common first plan never uses.
        kind, side = ("added", after) if after else ("removed", before)
        for key in side:
            yield kind, [key]
        return
    from deepdiff import DeepDiff

    # deepdiff >= 8 reports two mappings that share few keys as one root change unless told
    # to always go deeper; key-level lines are the point of this view.
    diff = DeepDiff(before, after, view="tree", verbose_level=2, **_deeper_option())
    for report, levels in diff.items():
        kind = ("added" if report.endswith("_added") else
                "removed" if report.endswith("_removed") else "changed")
        for level in levels:
            yield kind, level.path(output_format="list")


@functools.cache
def _deeper_option() -> dict[str, Any]:
    import inspect

    from deepdiff import DeepDiff

    params = inspect.signature(DeepDiff.__init__).parameters
    return {"threshold_to_diff_deeper": 0} if "threshold_to_diff_deeper" in params else {}


def _leaves(path: list[Any], value: Any) -> Iterator[tuple[str, Any]]:
    """An added or removed mapping, one line per key, as Terraform shows a new block."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaves([*path, k], v)
    else:
        yield _dotted(path), value


def _dotted(path: list[Any]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(p)):
            out += ("." if out else "") + str(p)
        else:
            out += f"[{json.dumps(str(p), ensure_ascii=False)}]"
    return out


def _at(value: Any, path: list[Any]) -> Any:
    for p in path:
        try:
            value = value[p]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _short(value: Any, limit: int = 120) -> str:
    if value in (MASK, CHANGED):
        return str(value)
    text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_lines(before: str, after: str) -> Iterator[str]:
    """The unified diff of before and after, without its ---/+++ header."""
    old, new = before.splitlines(), after.splitlines()
    if not old:
        # A new file: every line added, as unified_diff says it, without importing difflib for
        # what every first plan shows.
        if new:
            yield f"@@ -0,0 +{1 if len(new) == 1 else f'1,{len(new)}'} @@"
            yield from ("+" + line for line in new)
        return
    import difflib

    diff = difflib.unified_diff(old, new, "before", "after", n=2, lineterm="")
    for i, line in enumerate(diff):
        if i >= 2:  # skip the ---/+++ header
            yield line


# -- machine ---------------------------------------------------------------------------------

def plan_json(plan: Plan) -> dict[str, Any]:
    changes = []
    for c in plan.changes:
        before, after = _views(c)
        changes.append({
            "address": c.address, "type": c.type, "name": c.name, "path": str(c.path),
            "mode": {"before": _octal(c.current_mode), "after": _octal(c.mode_after)},
            "change": {
                "actions": [c.action],
                "before": before, "after": after,
                "before_sensitive": _sensitive_marks(before),
                "after_sensitive": _after_marks(c, after),
            },
        })
    return {
        "format_version": JSON_FORMAT_VERSION,
        "provision_version": __version__,
        "spec": {"root": str(plan.spec.root), "files": list(plan.spec.files)},
        "state": {"lineage": plan.state.lineage, "serial": plan.state.serial},
        "resource_changes": changes,
        "drift": [{"address": c.address, "path": str(c.path), "reason": c.drift_reason}
                  for c in plan.changes if c.drift],
        "warnings": [d.to_json() for d in plan.warnings],
        "env_required": list(plan.env_required),
        "targeted": list(plan.targeted),
        "summary": {"add": plan.count("create"), "change": plan.count("update"),
                    "destroy": plan.count("delete")},
        "changes_present": plan.has_changes,
    }


def _octal(mode: int | None) -> str | None:
    return None if mode is None else f"{mode:04o}"
