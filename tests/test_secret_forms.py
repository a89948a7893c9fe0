"""A secret that a renderer must escape stays masked in every form provision writes it in.

For every target type and dialect, `plan`, `plan -json` and `apply -auto-approve -json` run
through the real CLI with secrets holding what each output format escapes (quotes, backslashes,
line breaks, `$`, `${`, `%{`, backticks, tabs, non-ASCII). Neither a value nor any escaped form
of it may reach the output: each secret is its troublesome core between ten characters found
nowhere else, and neither ten may show. The written files must still hold the exact values, as
their real consumers read them (shells, python-dotenv, npm jsonc-parser, python-hcl2, json).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import pytest
from testkit import need

from provision.catalog import load_catalog
from provision.render import hcl, jsonc
from provision.render.shell import quote_dotenv, quote_fish, quote_posix, quote_powershell
from provision.secrets import MASK

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120

# provider -> (what its key holds between the two distinctive ends, a name for messages)
CORES = {
    "openai": ("it's", "single quote"),
    "anthropic": ('say "hi"', "double quote"),
    "google": ("a\\b\\\\c", "backslashes"),
    "deepseek": ("one\ntwo", "newline"),
    "openrouter": ("$HOME$(id)", "dollar"),
    "xai": ("${x}", "interpolation"),
    "groq": ("%{x}", "template directive"),
    "mistral": ("`id`", "backtick"),
    "cerebras": ("é😀\u2019\u00a0", "unicode"),
    "together": ("a\tb", "tab"),
    "fireworks": ("'\"\\\n\r\t$%{x}`é\u2018", "everything"),
}
SECRETS = {
    p: f"pre{n:02d}Qz7Xw{core}Vk3Jp{n:02d}suf" for n, (p, (core, _)) in enumerate(CORES.items())
}


def key_env(provider: str) -> str:
    entry = load_catalog().get(provider)
    assert entry is not None
    return entry.key_env[0]


KEY_ENV = {p: key_env(p) for p in CORES}
EXPECTED = {KEY_ENV[p]: value for p, value in SECRETS.items()}
SOURCE = {p: f"TEST_SECRET_{n:02d}" for n, p in enumerate(CORES)}
# python-dotenv expands ${…} in every kind of value: the dotenv target refuses that secret.
DOTENV_REFUSED = "xai"

Reader = Callable[[Path, pytest.FixtureRequest], Mapping[str, str]]


# -- reading the files back as their consumers do --------------------------------------------


def run_shell(argv: list[str], script: str, cwd: Path) -> list[str]:
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "HOME": str(cwd)}
    proc = subprocess.run([*argv, script], cwd=cwd, env=env, capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode("utf-8").split("\0")[:-1]


def printed(names: list[str]) -> str:
    return "printf '%s\\0' " + " ".join(f'"${n}"' for n in names)


def read_posix(path: Path, request: pytest.FixtureRequest) -> Mapping[str, str]:
    names = list(EXPECTED)
    script = f". '{path}'; {printed(names)}"
    readings = [
        run_shell([need(shell), *flags, "-c"], script, path.parent)
        for shell, *flags in (["bash"], ["dash"], ["zsh", "-f"])
    ]
    assert all(r == readings[0] for r in readings), "the POSIX shells disagree"
    return dict(zip(names, readings[0], strict=True))


def read_fish(path: Path, request: pytest.FixtureRequest) -> Mapping[str, str]:
    names = list(EXPECTED)
    script = f"source '{path}'; {printed(names)}"
    got = run_shell([need("fish"), "--no-config", "-c"], script, path.parent)
    return dict(zip(names, got, strict=True))


_PS_QUOTES = "['\u2018\u2019\u201a\u201b]"
_PS_ASSIGNMENT = re.compile(
    rf"^\$env:(\w+) = {_PS_QUOTES}((?:(?!{_PS_QUOTES}).|{_PS_QUOTES}{{2}})*){_PS_QUOTES}$",
    re.MULTILINE | re.DOTALL,
)


def read_powershell(path: Path, request: pytest.FixtureRequest) -> Mapping[str, str]:
    """pwsh where installed; otherwise PowerShell's rule for single-quoted strings: any of
    ' U+2018..U+201B ends one, unless doubled."""
    pwsh = shutil.which("pwsh")
    if pwsh is not None:
        names = list(EXPECTED)
        script = f". '{path}'; " + "; ".join(
            f"[Console]::Out.Write($env:{n} + [char]0)" for n in names
        )
        got = run_shell([pwsh, "-NoProfile", "-NonInteractive", "-Command"], script, path.parent)
        return dict(zip(names, got, strict=True))
    text = path.read_bytes().decode("utf-8-sig")  # keep a \r as written
    return {
        m[1]: re.sub(rf"({_PS_QUOTES}){_PS_QUOTES}", r"\1", m[2])
        for m in _PS_ASSIGNMENT.finditer(text)
    }


def read_dotenv(path: Path, request: pytest.FixtureRequest) -> Mapping[str, str]:
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def read_json(path: Path, request: pytest.FixtureRequest) -> Mapping[str, str]:
    values: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return values


def read_hcl(path: Path, request: pytest.FixtureRequest) -> Mapping[str, str]:
    # python-hcl2 returns the template escapes $${ and %%{ verbatim (see tests/render/
    # test_terraform.py): hide them from it, then read them as Terraform does.
    text = path.read_text(encoding="utf-8").replace("$${", "\ue000").replace("%%{", "\ue001")
    options = hcl2.SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True
    )
    doc = hcl2.loads(text, serialization_options=options)
    return {k: v.replace("\ue000", "${").replace("\ue001", "%{") for k, v in doc.items()}


def read_raw(path: Path, request: pytest.FixtureRequest) -> Mapping[str, str]:
    with path.open(encoding="utf-8", newline="") as f:
        records = f.read().split("\x1e")[:-1]
    return dict(r.split("=", 1) for r in records)


def read_mux(path: Path, request: pytest.FixtureRequest) -> Mapping[str, str]:
    parse = request.getfixturevalue("jsonc_parse")
    doc = parse(path.read_text(encoding="utf-8"))
    out = {}
    for p, entry in doc.items():
        if "apiKeyFile" in entry:
            content = Path(entry["apiKeyFile"]).read_bytes().decode("utf-8")
            assert content.endswith("\n")
            out[KEY_ENV[p]] = content[:-1]
        else:
            out[KEY_ENV[p]] = entry["apiKey"]
    return out


# -- the targets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One target of the spec (YAML flow mapping entries after its type), the template it
    renders, and how its file is read back; read=None: the file must hold no secret at all."""

    type: str
    options: str
    read: Reader | None
    template: str = ""


TEMPLATE_LINES = {
    "json": "{{ '{' if loop.first else ',' }}{{ p.key_env | json }}: "
    "{{ p.api_key | reveal | json }}{{ '}' if loop.last else '' }}\n",
    "hcl": "{{ p.key_env }} = {{ p.api_key | reveal | hcl }}\n",
    "shell": "export {{ p.key_env }}={{ p.api_key | reveal | shell }}\n",
    "fish": "set -gx {{ p.key_env }} {{ p.api_key | reveal | fish }}\n",
    "powershell": "$env:{{ p.key_env }} = {{ p.api_key | reveal | powershell }}\n",
    "reveal": "{{ p.key_env }}={{ p.api_key | reveal }}\x1e",
}
TEMPLATE_READERS: dict[str, Reader] = {
    "json": read_json,
    "hcl": read_hcl,
    "shell": read_posix,
    "fish": read_fish,
    "powershell": read_powershell,
    "reveal": read_raw,
}
SHELL_READERS: dict[str, Reader] = {
    "posix": read_posix,
    "fish": read_fish,
    "powershell": read_powershell,
    "dotenv": read_dotenv,
}
CASES: dict[str, Case] = {
    "mux_providers inline": Case("mux_providers", "path: out/providers.jsonc", read_mux),
    "mux_providers file": Case(
        "mux_providers", "path: out/providers.jsonc, secrets: file", read_mux
    ),
    **{
        f"coder_agent_env {style}": Case("coder_agent_env", f"path: out/env, style: {style}", None)
        for style in ("coder_env", "locals", "env_block", "tf_json")
    },
    **{
        f"shell_exports {dialect}": Case(
            "shell_exports", f"path: out/env.{dialect}, dialect: {dialect}", read
        )
        for dialect, read in SHELL_READERS.items()
    },
    **{
        f"template {kind}": Case(
            "template",
            "path: out/t.txt, template: t.j2",
            TEMPLATE_READERS[kind],
            "{% for p in providers %}" + line + "{% endfor %}",
        )
        for kind, line in TEMPLATE_LINES.items()
    },
}


def write_spec(root: Path, case: Case, providers: list[str]) -> None:
    lines = ["version: 1", "deployments:", "  d:", "    providers:"]
    lines += [
        f"      {p}: {{api_key: {{env: {SOURCE[p]}}}, probe: {{enabled: false}}}}" for p in CORES
    ]
    lines += [
        "targets:",
        f"  t: {{type: {case.type}, deployment: d, providers: [{', '.join(providers)}], "
        f"{case.options}}}",
    ]
    (root / "spec.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if case.template:
        (root / "t.j2").write_text(case.template, encoding="utf-8")
    (root / "home").mkdir()


def provision(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(root / "home"),
        "TMPDIR": str(root / "home"),
        "PYTHONPATH": str(ROOT),
        "LC_ALL": "C.UTF-8",
        **{SOURCE[p]: value for p, value in SECRETS.items()},
    }
    return subprocess.run(
        [sys.executable, "-m", "provision", *args, "-f", "spec.yaml", "-state", "state.json"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
    )


# -- what must not show ----------------------------------------------------------------------


def escaped_forms(value: str) -> set[str]:
    """value as it is written in each output format provision writes, between the quotes."""
    forms = {value, repr(value)[1:-1], json.dumps(value)[1:-1]}
    quoters = (quote_posix, quote_fish, quote_powershell, quote_dotenv, hcl.quote, jsonc.dumps)
    for quote in quoters:
        try:
            quoted = quote(value)
        except ValueError:
            continue
        forms.add(quoted[1:-1] if quoted[:1] in "'\"" else quoted)
    return forms


def assert_nothing_leaks(text: str, where: str) -> None:
    for p, value in SECRETS.items():
        what = f"{where}: the {CORES[p][1]} secret"
        for form in escaped_forms(value):
            assert form not in text, f"{what} shows as {form!r}"
        assert value[:10] not in text, f"{what} shows its start"
        assert value[-10:] not in text, f"{what} shows its end"


def marked(marks: Any) -> bool:
    if isinstance(marks, dict):
        return any(map(marked, marks.values()))
    if isinstance(marks, list):
        return any(map(marked, marks))
    return marks is True


def written(out: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted(out.rglob("*")) if p.is_file())


# -- the tests -------------------------------------------------------------------------------


@pytest.mark.consumer
@pytest.mark.parametrize("name", list(CASES))
def test_escaped_secrets_never_show(
    tmp_path: Path, name: str, request: pytest.FixtureRequest
) -> None:
    case = CASES[name]
    providers = [p for p in CORES if not (name.endswith("dotenv") and p == DOTENV_REFUSED)]
    write_spec(tmp_path, case, providers)

    plan = provision(tmp_path, "plan")
    assert plan.returncode == 0, plan.stderr
    assert_nothing_leaks(plan.stdout + plan.stderr, "plan")

    plan_json = provision(tmp_path, "plan", "-json")
    assert plan_json.returncode == 0, plan_json.stderr
    assert_nothing_leaks(plan_json.stdout + plan_json.stderr, "plan -json")
    changes = json.loads(plan_json.stdout)["resource_changes"]
    for change in changes:
        shown = change["change"]
        masked = MASK in json.dumps(shown["after"], ensure_ascii=False)
        assert marked(shown["after_sensitive"]) == masked, f"{change['address']} is mismarked"
    inlined = any(MASK in json.dumps(c["change"]["after"]) for c in changes)
    assert inlined == (case.read is not None)

    applied = provision(tmp_path, "apply", "-auto-approve", "-json")
    assert applied.returncode == 0, applied.stderr
    assert_nothing_leaks(applied.stdout + applied.stderr, "apply -json")
    assert json.loads(applied.stdout)["applied"]

    if case.read is None:
        assert_nothing_leaks(written(tmp_path / "out"), "the written file")
        return
    path = Path(next(c["path"] for c in changes if c["address"] == f"{case.type}.t"))
    expected = {KEY_ENV[p]: SECRETS[p] for p in providers}
    assert {k: v for k, v in case.read(path, request).items() if k in EXPECTED} == expected


def test_a_refused_secret_does_not_show_in_the_refusal(tmp_path: Path) -> None:
    case = CASES["shell_exports dotenv"]
    write_spec(tmp_path, case, [DOTENV_REFUSED])
    for args in (["plan"], ["plan", "-json"], ["apply", "-auto-approve", "-json"]):
        run = provision(tmp_path, *args)
        assert run.returncode == 1
        assert "cannot be written as dotenv" in run.stdout + run.stderr
        assert_nothing_leaks(run.stdout + run.stderr, " ".join(args))
    assert not (tmp_path / "out").exists()


def test_a_text_holding_a_secret_is_marked_sensitive_even_where_it_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key too short to mask by value shows in the text (masking every 3-character string
    would make output unreadable), but plan -json still marks that text sensitive."""
    from provision.cli import main

    (tmp_path / "spec.yaml").write_text(
        "version: 1\n"
        "deployments: {d: {providers: {groq: {api_key: {env: K}, probe: {enabled: false}}}}}\n"
        "targets: {t: {type: shell_exports, deployment: d, path: out/env.sh}}\n"
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("K", "k'y")
    args = ["plan", "-json", "-f", str(tmp_path / "spec.yaml"), "-state", str(tmp_path / "s")]
    assert main(args) == 0
    (change,) = json.loads(capsys.readouterr().out)["resource_changes"]
    assert "GROQ_API_KEY='k'\\''y'" in change["change"]["after"]
    assert change["change"]["after_sensitive"] is True
