"""shell_exports round-trips through the real consumers: bash, zsh, dash and fish source the
rendered file, python-dotenv reads the dotenv form, and a reference decoder (plus pwsh when
installed) reads the PowerShell form. Whatever a consumer reads back equals the spec's value, or
the renderer refuses with a diagnostic; no value ever runs a command."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testkit import need

from provision.api import load_spec
from provision.errors import DiagnosticsError, Span
from provision.model import Deployment, Spec, Target, Text, frozen_map
from provision.render import render
from provision.render.envvars import EnvVar
from provision.render.shell import (
    export_lines,
    quote_fish,
    quote_posix,
    quote_powershell,
)
from provision.secrets import Origin, Secret

GOLDEN = Path(__file__).parent / "golden" / "shell"
ENV_SPAN = Span("provision.yaml", 12, 5, 12, 30)
POSIX_SHELLS = {"bash": ["bash", "-c"], "zsh": ["zsh", "-f", "-c"], "dash": ["dash", "-c"]}
# Each fragment is something a consumer could expand, execute, split or misparse.
NASTY = [
    "'",
    '"',
    "\\",
    "\\\\",
    "$",
    "`",
    "$(touch CANARY)",
    "`touch CANARY`",
    "(touch CANARY)",
    "$(New-Item CANARY)",
    "${HOME}",
    "${X:-y}",
    "${",
    "}",
    "%{x}",
    "$HOME",
    "$'\\n'",
    "\n",
    "\r",
    "\r\n",
    "\t",
    " ",
    "#",
    " #",
    "é",
    "😀",
    "\u2018",
    "\u2019",
    "\u201a",
    "\u201b",
    "\u2028",
    "\x85",
    "\x1b[31m",
    "-e",
    "--",
    ";",
    "&",
    "|",
    "*",
    "?",
    "~",
    "!",
    "=",
    "\\'",
    "'\\''",
    "\\n",
    "\uf600",
    "\ufeff",
    "''",
    '\\"',
]
# NUL and lone surrogates are refused: test_unrepresentable_values_are_refused.
CHARS = st.characters(codec="utf-8", exclude_characters="\0")
VALUE = st.one_of(
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(CHARS, max_size=6)), max_size=12).map(
        "".join
    ),
    st.text(CHARS, max_size=40),
    st.text(CHARS, min_size=2000, max_size=6000),
)
BATCH = st.lists(VALUE, min_size=1, max_size=50)
HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_target(
    root: Path, env: Mapping[str, Text], dialect: str, secrets: str = "inline"
) -> tuple[Spec, Target]:
    target = Target(
        name="t",
        type="shell_exports",
        deployment="d",
        path=root / "out",
        options=frozen_map({"dialect": dialect, "secrets": secrets, "env": frozen_map(env)}),
        spans=frozen_map({"env": ENV_SPAN}),
    )
    spec = Spec(
        root=root,
        files=("provision.yaml",),
        deployments=frozen_map({"d": Deployment(name="d")}),
        targets=frozen_map({"t": target}),
    )
    return spec, target


def render_file(root: Path, env: Mapping[str, Text], dialect: str, secrets: str = "inline") -> Path:
    spec, target = make_target(root, env, dialect, secrets)
    artifact = render(spec, target).artifacts[0]
    path = root / f"vars.{dialect}"
    path.write_bytes(artifact.content)
    return path


def run_shell(argv: list[str], script: str, cwd: Path, env: Mapping[str, str] = {}) -> bytes:
    base = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "HOME": str(cwd)}
    proc = subprocess.run(
        [*argv, script], cwd=cwd, env={**base, **env}, capture_output=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def read_posix(shell: str, path: Path, names: list[str], env: Mapping[str, str] = {}) -> list[str]:
    argv = [need(POSIX_SHELLS[shell][0]), *POSIX_SHELLS[shell][1:]]
    script = f". '{path}'; printf '%s\\0' " + " ".join(f'"${n}"' for n in names)
    return split0(run_shell(argv, script, path.parent, env))


def read_fish(path: Path, names: list[str], env: Mapping[str, str] = {}) -> list[str]:
    script = f"source '{path}'; printf '%s\\0' " + " ".join(f'"${n}"' for n in names)
    return split0(run_shell([need("fish"), "--no-config", "-c"], script, path.parent, env))


def exported(
    argv: list[str], source: str, path: Path, env: Mapping[str, str] = {}
) -> dict[str, str]:
    """The environment a child process of the shell sees after sourcing the file."""
    out = run_shell(argv, f"{source} '{path}'; exec env -0", path.parent, env)
    return dict(item.split("=", 1) for item in split0(out))


def read_raw(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as f:  # keep \r as written
        return f.read()


def split0(out: bytes) -> list[str]:
    assert out.endswith(b"\0") or not out
    return out.decode("utf-8", "surrogateescape").split("\0")[:-1]


def decode_powershell(text: str, env: Mapping[str, str] = {}) -> dict[str, str]:
    """Reads `$env:NAME = '…'` and `$env:NAME = $env:OTHER` lines the way PowerShell's tokenizer
    reads single-quoted strings: any of ' U+2018..U+201B ends one unless the next is another."""
    quotes = "'\u2018\u2019\u201a\u201b"
    out: dict[str, str] = {}
    i, text = 0, text.removeprefix("\ufeff")
    while i < len(text):
        end = text.find("\n", i)
        line = text[i : len(text) if end < 0 else end]
        if line.startswith("#") or not line:
            i += len(line) + 1
            continue
        assert line.startswith("$env:"), line
        name, _, rest = line[5:].partition(" = ")
        if rest.startswith("$env:"):
            out[name] = env.get(rest[5:], "")
            i += len(line) + 1
            continue
        assert rest[0] in quotes
        j, value = i + 5 + len(name) + 4, []
        while True:
            c = text[j]
            if c in quotes:
                if j + 1 < len(text) and text[j + 1] in quotes:
                    value.append(text[j + 1])
                    j += 2
                    continue
                break
            value.append(c)
            j += 1
        out[name] = "".join(value)
        assert text[j + 1] == "\n", "trailing text after the string"
        i = j + 2
    return out


def check_batch(
    values: list[str], read: Callable[[Path, list[str]], Sequence[str | None]], dialect: str
) -> None:
    names = [f"V{i}" for i in range(len(values))]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = render_file(root, dict(zip(names, values, strict=True)), dialect)
        got = read(path, names)
        assert got == values
        assert not (root / "CANARY").exists(), "a value ran a command"


# -- round-trips through the real shells ------------------------------------------------------


@pytest.mark.consumer
@pytest.mark.parametrize("shell", sorted(POSIX_SHELLS))
@HYPOTHESIS
@given(values=BATCH)
def test_posix_shells_read_back_every_value(shell: str, values: list[str]) -> None:
    check_batch(values, lambda p, n: read_posix(shell, p, n), "posix")


@pytest.mark.consumer
@settings(HYPOTHESIS, max_examples=80)
@given(values=BATCH)
def test_fish_reads_back_every_value(values: list[str]) -> None:
    check_batch(values, lambda p, n: read_fish(p, n), "fish")


@settings(HYPOTHESIS, max_examples=200)
@given(values=BATCH)
def test_powershell_literal_decodes_to_every_value(values: list[str]) -> None:
    check_batch(values, lambda p, n: list(map(decode_powershell(read_raw(p)).get, n)), "powershell")


@pytest.mark.consumer
@settings(HYPOTHESIS, max_examples=100)
@given(values=BATCH)
def test_dotenv_reads_back_every_value_it_accepts(values: list[str]) -> None:
    from dotenv import dotenv_values

    accepted: list[str] = []
    for value in values:
        try:
            export_lines([EnvVar(name="X", value=value, provider=None, role="extra")], "dotenv")
        except DiagnosticsError:
            # python-dotenv expands ${…} with no escape, and misreads a trailing backslash.
            assert "${" in value or value.endswith("\\")
        else:
            accepted.append(value)
    check_batch(accepted, lambda p, n: list(map(dotenv_values(p).get, n)), "dotenv")


@pytest.mark.consumer
def test_long_values_and_the_exported_environment(tmp_path: Path) -> None:
    values = {"LONG": "x'$(touch CANARY)\n" * 5000, "WIDE": "é😀\u2019" * 20000, "EMPTY": ""}
    names = list(values)
    for shell in POSIX_SHELLS:
        got = read_posix(shell, render_file(tmp_path, values, "posix"), names)
        assert got == list(values.values()), shell
    assert read_fish(render_file(tmp_path, values, "fish"), names) == list(values.values())
    small = {"A": "a b", "B": "'$(touch CANARY)'", "C": "line\nbreak"}
    posix = render_file(tmp_path, small, "posix")
    for shell, argv in POSIX_SHELLS.items():
        assert exported([need(argv[0]), *argv[1:]], ".", posix).items() >= small.items(), shell
    fish = render_file(tmp_path, small, "fish")
    assert exported([need("fish"), "--no-config", "-c"], "source", fish).items() >= small.items()
    assert not (tmp_path / "CANARY").exists()


def test_pwsh_reads_back_the_powershell_file(tmp_path: Path) -> None:
    pwsh = shutil.which("pwsh")
    if pwsh is None:
        pytest.skip("pwsh is not installed; the reference decoder covers PowerShell quoting")
    values = {f"V{i}": v for i, v in enumerate(NASTY)}
    path = render_file(tmp_path, values, "powershell")
    script = f". '{path}'; " + "; ".join(
        f"[Console]::Out.Write($env:{n} + [char]0)" for n in values
    )
    got = split0(run_shell([pwsh, "-NoProfile", "-NonInteractive", "-Command"], script, tmp_path))
    assert got == [v or "" for v in values.values()]
    assert not (tmp_path / "CANARY").exists()


# -- the quoting helpers ----------------------------------------------------------------------


def test_quote_helpers() -> None:
    assert quote_posix("it's $(x)") == "'it'\\''s $(x)'"
    assert quote_fish("it's \\ $x") == "'it\\'s \\\\ $x'"
    assert quote_powershell("it's \u2019q\u2019") == "'it''s \u2019\u2019q\u2019\u2019'"
    for quote in (quote_posix, quote_fish, quote_powershell):
        with pytest.raises(ValueError, match="NUL"):
            quote("a\0b")


def test_export_lines_for_eval() -> None:
    token = Secret("tok-eval-0001", Origin("env", "CODER_SESSION_TOKEN"))
    vars = [
        EnvVar(name="OPENAI_API_KEY", value=token, provider="openai", role="key"),
        EnvVar(
            name="OPENAI_BASE_URL", value="https://c.example/x", provider="openai", role="base_url"
        ),
    ]
    assert export_lines(vars, "posix", "reference") == (
        'export OPENAI_API_KEY="${CODER_SESSION_TOKEN}"\n'
        "export OPENAI_BASE_URL='https://c.example/x'\n"
    )
    assert export_lines(vars, "posix", "inline").startswith("export OPENAI_API_KEY='tok-eval-0001'")
    with pytest.raises(ValueError, match="dialect"):
        export_lines(vars, "csh", "inline")


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["posix", "fish", "powershell", "dotenv"])
@pytest.mark.parametrize(("value", "why"), [("a\0b", "NUL"), ("a\ud800b", "lone surrogate")])
def test_unrepresentable_values_are_refused(
    tmp_path: Path, dialect: str, value: str, why: str
) -> None:
    spec, target = make_target(tmp_path, {"OK": "fine", "BAD": value}, dialect)
    with pytest.raises(DiagnosticsError) as info:
        render(spec, target)
    (diag,) = info.value.diagnostics
    assert diag.summary.startswith(f'BAD in target "t" cannot be written as {dialect}')
    assert why in diag.summary
    assert diag.span == ENV_SPAN


@pytest.mark.parametrize(
    ("value", "written"),
    [("C:\\tools\\", "X=C:\\tools\\\n"), ("$HOME ${unclosed", 'X="$HOME ${unclosed"\n')],
)
def test_dotenv_forms(value: str, written: str) -> None:
    var = EnvVar(name="X", value=value, provider=None, role="extra")
    assert export_lines([var], "dotenv") == written


@pytest.mark.parametrize("value", ["${HOME}", "a${X:-y}b", " leading space\\", "two\nlines\\"])
def test_dotenv_refuses_what_python_dotenv_cannot_read_back(tmp_path: Path, value: str) -> None:
    spec, target = make_target(tmp_path, {"X": value}, "dotenv")
    with pytest.raises(DiagnosticsError, match=r'X in target "t" cannot be written as dotenv'):
        render(spec, target)


def test_invalid_names_are_refused(tmp_path: Path) -> None:
    spec, target = make_target(tmp_path, {"A;touch CANARY": "x"}, "posix")
    with pytest.raises(DiagnosticsError, match="not a valid variable name"):
        render(spec, target)


def test_unknown_secrets_are_not_revealed(tmp_path: Path) -> None:
    unknown = Secret.unknown(Origin("env", "CODER_SESSION_TOKEN"))
    spec, target = make_target(tmp_path, {"K": unknown}, "posix")
    with pytest.raises(DiagnosticsError, match="has not been read"):
        render(spec, target)
    spec, target = make_target(tmp_path, {"K": unknown}, "posix", "reference")
    assert render(spec, target).env_required == ("CODER_SESSION_TOKEN",)


def test_reference_needs_an_env_secret(tmp_path: Path) -> None:
    secret = Secret("sk-from-file-0001", Origin("file", "key.txt"))
    spec, target = make_target(tmp_path, {"K": secret}, "fish", "reference")
    with pytest.raises(DiagnosticsError) as info:
        render(spec, target)
    message = info.value.diagnostics[0].format()
    assert "{env: NAME}" in message and "secrets: inline" in message
    assert "sk-from-file-0001" not in message


@pytest.mark.parametrize("dialect", ["posix", "fish", "powershell", "dotenv"])
def test_mode_follows_inlined_secrets(tmp_path: Path, dialect: str) -> None:
    secret = Secret("sk-mode-0001", Origin("env", "KEY"))
    cases: list[tuple[dict[str, Text], str, int]] = [
        ({"A": "plain"}, "inline", 0o644),
        ({"A": secret}, "inline", 0o600),
        ({"A": secret}, "reference", 0o644),
    ]
    for env, secrets, mode in cases:
        spec, target = make_target(tmp_path, env, dialect, secrets)
        artifact = render(spec, target).artifacts[0]
        assert (artifact.mode, artifact.sensitive) == (mode, mode == 0o600)


# -- through the real pipeline ----------------------------------------------------------------

SPEC = """\
version: 1
deployments:
  prod:
    description: Production Coder with AI Bridge.
    coder:
      url: https://coder.example.com
      token: {env: CODER_SESSION_TOKEN}
    providers:
      openai:
        via: aibridge
        models: [gpt-5]
      anthropic:
        via: aibridge
        models: [claude-sonnet-4-5]
      groq:
        api_key: {env: GROQ_API_KEY}
targets:
"""
TARGET = """\
  {name}:
    type: shell_exports
    deployment: prod
    path: out/{file}
    dialect: {dialect}
    secrets: {secrets}
    env:
      MUX_PROMPT: {prompt}
      EDITOR: code --wait
"""
DIALECT_FILES = {
    "posix": "posix.sh",
    "fish": "fish.fish",
    "powershell": "powershell.ps1",
    "dotenv": "dotenv.env",
}
# `$${` is the spec's escape for a literal `${`; python-dotenv would expand that, so the dotenv
# target carries `%{` instead.
PROMPTS = {"dotenv": '"it\'s $(touch CANARY) `id` %{HOME} 100%"'}
PROMPT = '"it\'s $(touch CANARY) `id` $${HOME} 100%"'
TOKEN = "golden-token-Ab3$'\"x"
ENV = {"CODER_SESSION_TOKEN": TOKEN, "GROQ_API_KEY": "gsk-golden-0001", "HOME": "/nonexistent"}


def load(tmp_path: Path, dialect: str, secrets: str) -> Spec:
    target = TARGET.format(
        name=dialect,
        file=DIALECT_FILES[dialect],
        dialect=dialect,
        secrets=secrets,
        prompt=PROMPTS.get(dialect, PROMPT),
    )
    (tmp_path / "provision.yaml").write_text(SPEC + target)
    return load_spec(tmp_path, env=ENV).spec


@pytest.mark.parametrize("dialect", sorted(DIALECT_FILES))
def test_golden(tmp_path: Path, dialect: str) -> None:
    # posix and dotenv keep secrets out of the file; fish and PowerShell inline them.
    secrets = "reference" if dialect in ("posix", "dotenv") else "inline"
    spec = load(tmp_path, dialect, secrets)
    rendered = render(spec, spec.targets[dialect])
    artifact = rendered.artifacts[0]
    golden = GOLDEN / DIALECT_FILES[dialect]
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(artifact.content)
    assert artifact.content == golden.read_bytes()
    inlined = b"gsk-golden-0001" in artifact.content
    assert inlined is (secrets == "inline") is artifact.sensitive
    if secrets == "reference":
        assert rendered.env_required == ("CODER_SESSION_TOKEN", "GROQ_API_KEY")


@pytest.mark.consumer
@pytest.mark.parametrize("dialect", sorted(DIALECT_FILES))
def test_reference_mode_reads_the_token_from_the_environment(tmp_path: Path, dialect: str) -> None:
    spec = load(tmp_path, dialect, "reference")
    content = render(spec, spec.targets[dialect]).artifacts[0].content
    assert TOKEN.encode() not in content and b"gsk-golden-0001" not in content
    path = tmp_path / "file"
    path.write_bytes(content)
    runtime = {"CODER_SESSION_TOKEN": TOKEN, "GROQ_API_KEY": "gsk-golden-0001"}
    names = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY", "OPENAI_BASE_URL"]
    expected = [
        TOKEN,
        TOKEN,
        "gsk-golden-0001",
        "https://coder.example.com/api/v2/aibridge/openai/v1",
    ]
    if dialect == "posix":
        for shell in POSIX_SHELLS:
            assert read_posix(shell, path, names, runtime) == expected, shell
    elif dialect == "fish":
        assert read_fish(path, names, runtime) == expected
    elif dialect == "powershell":
        assert list(map(decode_powershell(content.decode(), runtime).get, names)) == expected
    else:
        from dotenv import dotenv_values

        with pytest.MonkeyPatch.context() as mp:
            for k, v in runtime.items():
                mp.setenv(k, v)
            assert list(map(dotenv_values(path).get, names)) == expected
    assert not (tmp_path / "CANARY").exists()
