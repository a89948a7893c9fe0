"""`provision env -d DEPLOYMENT`: the deployment's provider variables as shell assignments, for
`eval "$(provision env -d prod)"` in a bootstrap script.

Secrets, without --reveal:
- a secret read from an environment variable (`{env: NAME}`, a whole `${env.NAME}`) is printed
  as a reference to it, `export OPENAI_API_KEY="${CODER_SESSION_TOKEN}"`: the shell running
  the eval already has NAME (provision inherited it from there), and no value is printed;
- any other secret (`{file: …}`, `{env_list: …}`, a sensitive variable, a literal) is printed
  inline only when stdout is not a terminal — a pipe into eval or a redirect the user asked
  for. On a terminal the command refuses (exit 1) and prints nothing on stdout.
With --reveal every secret is printed inline, terminal or not.

This is the one command whose stdout bypasses provision.report.Output: Output masks every known
secret by value, and handing the values to the shell is the point of eval. Only the assignment
lines go that way, under the rules above; diagnostics still go through Output to stderr.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from provision import api
from provision.cli._options import FLAG, SPEC_OPTIONS, Command, Opt
from provision.errors import Diagnostic, DiagnosticsError, ProvisionError
from provision.model import Deployment, Spec
from provision.render.envvars import EnvVar, provider_vars
from provision.render.shell import export_lines
from provision.report import Output
from provision.secrets import Secret
from provision.spec.resolve import unknown_deployment
from provision.spec.variables import VarArg

DIALECTS = {"bash": "posix", "zsh": "posix", "fish": "fish", "powershell": "powershell",
            "dotenv": "dotenv"}  # fmt: skip
_SHELL_NAMES = {"bash": "bash", "zsh": "zsh", "fish": "fish", "pwsh": "powershell",
                "powershell": "powershell"}  # fmt: skip
REFUSAL = "Refusing to print secrets to a terminal; pass --reveal"


def default_shell(env: Mapping[str, str]) -> str:
    """From $SHELL's basename; any other shell (sh, dash, ksh: POSIX too) or none: bash."""
    name = re.split(r"[\\/]", env.get("SHELL", ""))[-1].lower().removesuffix(".exe")
    return _SHELL_NAMES.get(name, "bash")


def deployment_vars(spec: Spec, name: str) -> list[EnvVar]:
    """The variables of every enabled provider of the deployment; a name twice is an error."""
    deployment = _deployment(spec, name)
    found: dict[str, EnvVar] = {}
    diags: list[Diagnostic] = []
    for p in deployment.providers.values():
        if not p.enabled:
            continue
        for var in provider_vars(p):
            first = found.setdefault(var.name, var)
            if first is not var:
                diags.append(
                    Diagnostic.error(
                        f'{var.name} is set by both provider "{first.provider}" and provider '
                        f'"{var.provider}" of deployment "{name}"',
                        "A variable has one value: set enabled: false on one of them, or export "
                        "them through a shell_exports target with a `providers:` list.",
                        var.span,
                    )
                )
    if diags:
        raise DiagnosticsError(diags)
    return list(found.values())


def _deployment(spec: Spec, name: str) -> Deployment:
    deployment = spec.deployments.get(name)
    if deployment is None:
        raise DiagnosticsError([unknown_deployment(name, list(spec.deployments))])
    return deployment


def assignments(variables: list[EnvVar], dialect: str, *, reveal: bool, to_tty: bool) -> str:
    """The lines to print, under the secret rules in this module's docstring."""
    lines: list[str] = []
    refused: list[str] = []
    for var in variables:
        mode = "inline"
        if isinstance(var.value, Secret) and not reveal:
            if var.value.origin.kind == "env":
                mode = "reference"
            elif to_tty:
                refused.append(f"{var.name} (a secret from {var.value.origin})")
                continue
        lines.append(export_lines([var], dialect, mode))
    if refused:
        raise DiagnosticsError(
            [
                Diagnostic.error(
                    REFUSAL,
                    "These would be printed as values: " + ", ".join(refused) + ". Pipe the output "
                    'into eval (eval "$(provision env …)"), or pass --reveal to print them here.',
                )
            ]
        )
    return "".join(lines)


def _env(out: Output, var_args: tuple[VarArg, ...], *, deployment: str, shell: str | None,
         reveal: bool, spec_path: Path, **_options: object) -> int:
    # This deployment alone: what other deployments read need not exist here (a workspace has
    # its own deployment's variables and files).
    resolved = api.load_spec(spec_path, var_args=var_args, deployment=deployment)
    out.diagnostics(resolved.warnings)
    variables = deployment_vars(resolved.spec, deployment)
    dialect = DIALECTS[shell or default_shell(os.environ)]
    text = assignments(variables, dialect, reveal=reveal, to_tty=sys.stdout.isatty())
    if not text:
        out.err(f'Deployment "{deployment}" exports no variables.')
    _write_exactly(text)
    return 0


def _write_exactly(text: str) -> None:
    """text on stdout as it is: escape sequences and all (a value may hold one, and eval must
    get it back), in UTF-8 where stdout claims plain ASCII (PYTHONIOENCODING=ascii), as
    click.echo would, rather than failing on the first other character."""
    stream = sys.stdout
    binary = getattr(stream, "buffer", None)
    if binary is not None and codecs.lookup(stream.encoding or "utf-8").name == "ascii":
        stream.flush()
        binary.write(text.encode("utf-8"))
        binary.flush()
        return
    try:
        stream.write(text)  # encoded whole before anything is written
    except UnicodeEncodeError:
        raise ProvisionError(
            f"Cannot print the export lines in stdout's encoding ({stream.encoding}): a value "
            "holds a character it has not. Use a UTF-8 locale, or PYTHONIOENCODING=utf-8."
        ) from None
    stream.flush()


command = Command(
    name="env",
    help='Print export lines for eval "$(provision env -d DEPLOYMENT)".',
    options=(
        Opt(("-d", "--deployment"), "deployment", "The deployment whose providers to export.",
            metavar="NAME", required=True),
        Opt(("--shell",), "shell", "Syntax to print (default: from $SHELL, else bash).",
            choices=tuple(DIALECTS)),
        Opt(("--reveal",), "reveal", "Print every secret's value, also on a terminal and for "
            "secrets read from environment variables.", kind=FLAG),
        *SPEC_OPTIONS,
    ),
    run=_env,
)
