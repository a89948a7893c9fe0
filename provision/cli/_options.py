"""Commands and their options as data, for two parsers: click and `parse`.

click writes help, completion and usage errors for every command. `parse` reads the everyday
command lines of the commands declared here as a `Command` without importing click, which costs
a third of their start-up: validate and plan (the pre-commit hooks and the CI job of a GitOps
repo) and env (which a workspace's shell runs as it starts). It accepts a command line only when
click would read it the same way and returns None for anything else (help, an unknown option, a
value the command refuses, a missing required option, a form it does not know); click then reads
that line and runs the command or reports the error. Whichever parser reads a line, the same
function runs with the same values; tests/test_cli_options.py holds the two parsers to that.

This module and the `Command` modules import no click; `provision.cli._common` turns the same
declarations into click options and commands.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from provision.record import record
from provision.spec.variables import VarArg

FLAG, VALUE, MULTIPLE = "flag", "value", "multiple"


@record(kw_only=False)
class Opt:
    """One option: its spellings (Terraform's one dash first, then GNU's two), the parameter
    it fills, and how: a flag, one value (the last given wins), or one value per use."""

    names: tuple[str, ...]
    dest: str
    help: str
    kind: str = VALUE
    metavar: str | None = None
    default: Any = None
    show_default: bool = False
    required: bool = False
    path: bool = False  # the value is a Path (click.Path(path_type=Path))
    choices: tuple[str, ...] | None = None  # the values allowed (click.Choice)
    # Raises ValueError for a value the command refuses as a usage error; `parse` leaves such
    # a line to click, so that the refusal reads the same whichever parser met it first.
    check: Callable[[str], object] | None = None


@record
class Command:
    """A command whose options are data: `run(out, var_args, **values)` returns the exit code."""

    name: str
    help: str
    options: tuple[Opt, ...]
    run: Callable[..., int]


# name: (module under provision.cli, attribute, first paragraph of the command's help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("validate", "command",
                 "Check the spec: syntax, schema, references, catalog and Mux rules."),
    "plan": ("plan", "command", "Compare the spec with the files on disk and the state; "
                                "print what would change."),
    "apply": ("apply", "command", "Write what the plan shows: probed first, atomically, "
                                  "under lock, recording state."),
    "destroy": ("apply", "destroy_command", "Remove what provision manages: its files, and "
                                            "only its own entries in shared files."),
    "show": ("show", "command", "Show the state, or the saved plan PLANFILE."),
    "state": ("state", "command", "Inspect or edit the state (what provision last wrote)."),
    "force-unlock": ("force_unlock", "command",
                     "Remove the state lock held under LOCK_ID (only if that is its ID)."),
    "schema": ("schema", "command", "Print the JSON Schema (draft 2020-12) of spec files."),
    "providers": ("providers", "command", "List the providers provision knows: API kind, "
                                          "endpoint, env vars, how Mux holds them."),
    "bridge-sim": ("bridge_sim", "command", "Serve a stand-in Coder deployment with AI Bridge "
                                            "until SIGINT, SIGTERM or SIGHUP."),
    "probe": ("probe", "command", "Probe every endpoint with the values apply would write; "
                                  "exit 1 if a required one fails."),
    "health": ("health", "command", "Per endpoint: success rate over the rolling window, "
                                    "p50/p95 latency, last check."),
    "env": ("env", "command", 'Print export lines for eval "$(provision env -d DEPLOYMENT)".'),
    "import": ("import_", "command", "Write a spec that reproduces existing configuration."),
    "completion": ("completion", "command",
                   "Print the completion script for SHELL (bash, zsh or fish)."),
}


def load_command(name: str) -> object:
    """The command named in COMMANDS, its module imported now: a click command, or a Command."""
    module, attribute, _help = COMMANDS[name]
    return getattr(importlib.import_module(f"provision.cli.{module}"), attribute)


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration as Terraform's -lock-timeout takes it: 30s, 5m, 1m30s, 0."""
    value = text.strip()
    if value == "0":
        return 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(
            f"invalid duration {text!r}: expected a number with a unit (ms, s, m, h), "
            "e.g. 30s, 5m or 1m30s"
        )
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

SPEC_FILE = Opt(("-f", "--file"), "spec_path", "Spec file or directory of spec files.",
                default=Path(), show_default=True, path=True)
VAR = Opt(("-var", "--var"), "vars_", "Set a variable; repeatable, later wins.",
          kind=MULTIPLE, metavar="NAME=VALUE")
VAR_FILE = Opt(("-var-file", "--var-file"), "var_files",
               "Variables file (YAML or JSON5); repeatable, later wins.",
               kind=MULTIPLE, metavar="FILE")
JSON = Opt(("-json", "--json"), "as_json", "Machine-readable JSON output.", kind=FLAG)
STATE = Opt(("-state", "--state"), "state",
            "State file (default: .provision/state.json beside the spec).", path=True)
LOCK_TIMEOUT = Opt(("-lock-timeout", "--lock-timeout"), "lock_timeout",
                   "How long to wait for the state lock (e.g. 30s, 2m).", metavar="DURATION",
                   default="0s", show_default=True, check=parse_duration)
TARGET = Opt(("-target", "--target"), "targets",
             "Limit to this resource address; repeatable. For exceptional use.",
             kind=MULTIPLE, metavar="ADDR")

SPEC_OPTIONS = (SPEC_FILE, VAR, VAR_FILE)
WORKFLOW_OPTIONS = (JSON, *SPEC_OPTIONS, LOCK_TIMEOUT, TARGET, STATE)

# The options whose values, in command-line order, make the variable layers (later wins).
VAR_KINDS = {name: kind for opt, kind in ((VAR, "var"), (VAR_FILE, "file"))
             for name in opt.names}


def var_order(args: Iterable[str], takes_value: Callable[[str], bool]) -> tuple[VarArg, ...]:
    """Every -var and -var-file of a command line, in order. takes_value(name) says whether an
    option takes the next argument as its value (so that `-out -var` is not read as a -var)."""
    order = []
    for name, value in _pairs(iter(args), takes_value):
        if name in VAR_KINDS:
            order.append(VarArg(VAR_KINDS[name], value or ""))
    return tuple(order)


def _pairs(
    it: Iterator[str], takes_value: Callable[[str], bool]
) -> Iterator[tuple[str, str | None]]:
    """(option, value) for each option up to `--`; value None for a flag or a missing value."""
    for arg in it:
        if arg == "--":
            return
        name, eq, value = arg.partition("=")
        if eq:
            yield name, value
        elif takes_value(name):
            yield name, next(it, None)
        else:
            yield arg, None


def parse(
    args: Sequence[str], options: Sequence[Opt]
) -> tuple[dict[str, Any], tuple[VarArg, ...]] | None:
    """The parameter values and the variable layers of a command line, read as click reads it;
    None for a line this parser leaves to click (see the module's docstring)."""
    by_name = {name: opt for opt in options for name in opt.names}
    values: dict[str, Any] = {
        opt.dest: False if opt.kind == FLAG else () if opt.kind == MULTIPLE else opt.default
        for opt in options
    }
    order = []
    given = set()
    it = iter(args)
    for arg in it:
        name, eq, value = arg.partition("=")
        opt = by_name.get(name)
        # Not ours: help, `--`, an operand, an unknown option, `-fVALUE`, `-f=VALUE` (click reads
        # "=VALUE" as the value of a one-letter option), or a value given to a flag.
        if opt is None or (eq and (opt.kind == FLAG or len(name) == 2)):
            return None
        given.add(opt.dest)
        if opt.kind == FLAG:
            values[opt.dest] = True
            continue
        if not eq:
            value = next(it, "")
        if not value or not _accepted(opt, value):
            return None  # a missing or empty value, or one the command refuses
        if name in VAR_KINDS:
            order.append(VarArg(VAR_KINDS[name], value))
        typed = Path(value) if opt.path else value
        values[opt.dest] = (*values[opt.dest], typed) if opt.kind == MULTIPLE else typed
    if any(opt.required and opt.dest not in given for opt in options):
        return None  # click says which is missing
    paths = [p for opt in options if opt.path
             for p in (values[opt.dest] if opt.kind == MULTIPLE else (values[opt.dest],))]
    if not all(_readable_or_absent(p) for p in paths if p is not None):
        return None  # defaults included: click checks `-f .` too
    return values, tuple(order)


def _readable_or_absent(path: Path) -> bool:
    """click.Path's check (readable=True): a path that exists must be readable."""
    try:
        path.stat()
    except OSError:
        return True
    except ValueError:  # a NUL in the name: click's to report
        return False
    return os.access(path, os.R_OK)


def _accepted(opt: Opt, value: str) -> bool:
    if opt.choices is not None and value not in opt.choices:
        return False
    if opt.check is None:
        return True
    try:
        opt.check(value)
    except ValueError:
        return False
    return True
