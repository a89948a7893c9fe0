"""template targets: a user's Jinja2 template in a sandbox, with masked secrets, escaping filters
and diagnostics at the template's own file and line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import need

from provision.api import load_spec
from provision.errors import DiagnosticsError
from provision.model import Spec
from provision.render import Rendered, render
from provision.secrets import MASK

GOLDEN = Path(__file__).parent / "golden" / "template"
TOKEN = "tok-template-Zx9'$(touch CANARY)"
ENV = {"CODER_SESSION_TOKEN": TOKEN, "GROQ_API_KEY": "gsk-template-0001", "HOME": "/nonexistent"}
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
        models: [gpt-5, gpt-5-codex]
      anthropic:
        via: aibridge
        models: [claude-sonnet-4-5]
      groq:
        api_key: {env: GROQ_API_KEY}
        models: [llama-3.3-70b-versatile]
targets:
  out:
    type: template
    deployment: prod
    path: out/result
    template: templates/TEMPLATE
"""


def load(root: Path, template: str, name: str = "main.j2", read_secrets: bool = True) -> Spec:
    (root / "templates").mkdir(exist_ok=True)
    (root / "templates" / name).write_text(template, encoding="utf-8")
    (root / "provision.yaml").write_text(SPEC.replace("TEMPLATE", name))
    return load_spec(root, env=ENV, read_secrets=read_secrets).spec


def run(root: Path, template: str, name: str = "main.j2", read_secrets: bool = True) -> Rendered:
    spec = load(root, template, name, read_secrets)
    return render(spec, spec.targets["out"])


def text(rendered: Rendered) -> str:
    return rendered.artifacts[0].content.decode("utf-8")


def error(root: Path, template: str, read_secrets: bool = True) -> DiagnosticsError:
    with pytest.raises(DiagnosticsError) as info:
        run(root, template, read_secrets=read_secrets)
    assert TOKEN not in str(info.value.diagnostics)
    return info.value


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # diagnostics name template files relative to the cwd


def test_context(tmp_path: Path) -> None:
    template = (
        "{{ deployment.name }}|{{ deployment.description }}|{{ deployment.coder.url }}\n"
        "{% for p in providers %}{{ p.id }} {{ p.catalog }} {{ p.api }} {{ p.bridged }} "
        "{{ p.enabled }} {{ p.key_env }} {{ p.models | join(',') }} {{ p.base_url }}\n"
        "{% endfor %}{{ target.name }} {{ target.path }}\n{{ env | list | join(' ') }}\n"
    )
    assert text(run(tmp_path, template)) == (
        "prod|Production Coder with AI Bridge.|https://coder.example.com\n"
        "openai openai openai True True OPENAI_API_KEY gpt-5,gpt-5-codex "
        "https://coder.example.com/api/v2/aibridge/openai/v1\n"
        "anthropic anthropic anthropic True True ANTHROPIC_API_KEY claude-sonnet-4-5 "
        "https://coder.example.com/api/v2/aibridge/anthropic\n"
        "groq groq openai False True GROQ_API_KEY llama-3.3-70b-versatile "
        "https://api.groq.com/openai/v1\n"
        f"out {tmp_path.resolve() / 'out' / 'result'}\n"
        "OPENAI_API_KEY OPENAI_BASE_URL ANTHROPIC_API_KEY ANTHROPIC_BASE_URL GROQ_API_KEY\n"
    )


def test_secrets_are_masked_unless_revealed(tmp_path: Path) -> None:
    masked = run(
        tmp_path,
        "{{ providers[0].api_key }} {{ env.OPENAI_API_KEY }} {{ deployment.coder.token }} "
        "{{ providers[0].api_key | json }} {{ providers[0].api_key | shell }} "
        "{{ providers[0].api_key ~ '' }} {{ '%s' | format(env.GROQ_API_KEY) }} {{ env | json }}",
    )
    assert TOKEN not in text(masked) and "gsk-template-0001" not in text(masked)
    assert text(masked).count(MASK) == 10
    artifact = masked.artifacts[0]
    assert (artifact.mode, artifact.sensitive) == (0o644, False)

    revealed = run(tmp_path, "{{ providers[0].api_key | reveal }}")
    assert text(revealed) == TOKEN
    artifact = revealed.artifacts[0]
    assert (artifact.mode, artifact.sensitive) == (0o600, True)


def test_escaping_filters(tmp_path: Path) -> None:
    value = 'it\'s "${x}" %{y} $(touch CANARY) \\ é\n'
    template = (
        "{% set v = "
        + json.dumps(value)
        + " %}"
        + "\n".join("{{ v | " + f + " }}" for f in ("json", "hcl", "shell", "fish", "powershell"))
    )
    lines = text(run(tmp_path, template)).split("\n", 1)
    assert json.loads(lines[0]) == value
    assert lines[1] == (
        '"it\'s \\"$${x}\\" %%{y} $(touch CANARY) \\\\ é\\n"\n'
        "'it'\\''s \"${x}\" %{y} $(touch CANARY) \\ é\n'\n"
        "'it\\'s \"${x}\" %{y} $(touch CANARY) \\\\ é\n'\n"
        "'it''s \"${x}\" %{y} $(touch CANARY) \\ é\n'"
    )


@pytest.mark.consumer
def test_shell_filter_round_trips_through_bash(tmp_path: Path) -> None:
    rendered = run(tmp_path, "X={{ providers[0].api_key | reveal | shell }}\n")
    script = tmp_path / "x.sh"
    script.write_bytes(rendered.artifacts[0].content)
    out = subprocess.run(
        [need("bash"), "-c", f". '{script}'; printf %s \"$X\""],
        capture_output=True,
        cwd=tmp_path,
        check=True,
    ).stdout
    assert out.decode() == TOKEN
    assert not (tmp_path / "CANARY").exists()


def test_undefined_names_the_template_file_and_line(tmp_path: Path) -> None:
    exc = error(tmp_path, "first\n{% for p in providers %}\n{{ p.nope }}\n{% endfor %}\n")
    (diag,) = exc.diagnostics
    assert diag.span is not None
    assert (diag.span.filename, diag.span.line) == ("templates/main.j2", 3)
    assert "has no attribute 'nope'" in diag.summary
    assert "{{ p.nope }}" in diag.detail


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    (diag,) = error(tmp_path, "ok\nok\n{% for x in %}\n").diagnostics
    assert diag.span is not None and (diag.span.filename, diag.span.line) == (
        "templates/main.j2",
        3,
    )
    assert diag.summary.startswith("Template syntax error")
    assert "{% for x in %}" in diag.detail


def test_errors_in_an_included_template_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "part.j2").write_text("a\nb {{ missing }}\n")
    (diag,) = error(tmp_path, 'x\n{% include "part.j2" %}\n').diagnostics
    assert diag.span is not None and (diag.span.filename, diag.span.line) == (
        "templates/part.j2",
        2,
    )


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__",
        "''.__class__.__mro__[1].__subclasses__()",
        "cycler.__init__.__globals__",
        "providers[0].api_key.reveal()",
        "(providers[0].api_key | attr('reveal'))()",
        "env.OPENAI_API_KEY.candidates",
        "'{0.reveal}'.format(deployment.coder.token)",
    ],
)
def test_sandbox_blocks_escapes(tmp_path: Path, expression: str) -> None:
    (diag,) = error(tmp_path, "\n{{ " + expression + " }}\n").diagnostics
    assert "unsafe" in diag.summary
    assert diag.span is not None and diag.span.line == 2


def test_revealed_values_are_masked_in_error_messages(tmp_path: Path) -> None:
    (diag,) = error(tmp_path, "{{ {}[providers[0].api_key | reveal] }}").diagnostics
    assert MASK in diag.summary


def test_unread_secret_is_an_error_not_a_crash(tmp_path: Path) -> None:
    exc = error(tmp_path, "{{ providers[0].api_key | reveal }}", read_secrets=False)
    (diag,) = exc.diagnostics
    assert "has not been read" in diag.summary and diag.span is not None


def test_unrepresentable_value_in_a_filter(tmp_path: Path) -> None:
    (diag,) = error(tmp_path, '{{ "a\\x00b" | shell }}').diagnostics
    assert "NUL" in diag.summary


def test_unreadable_template_points_at_the_option(tmp_path: Path) -> None:
    spec = load(tmp_path, "fine")
    (tmp_path / "templates" / "main.j2").unlink()
    with pytest.raises(DiagnosticsError) as info:
        render(spec, spec.targets["out"])
    (diag,) = info.value.diagnostics
    assert diag.summary == "Cannot read template templates/main.j2"
    assert diag.span is not None and (diag.span.filename, diag.span.line) == ("provision.yaml", 23)
    (tmp_path / "templates" / "main.j2").write_bytes(b"\xff\xfe")
    with pytest.raises(DiagnosticsError, match="Cannot read template"):
        render(spec, spec.targets["out"])


def test_jinja_is_imported_only_when_rendering() -> None:
    code = "import sys, provision.render.template; print('jinja2' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("name", "mode"), [("litellm.yaml", 0o644), ("coder-env.tf", 0o600)])
def test_golden(tmp_path: Path, name: str, mode: int) -> None:
    source = (GOLDEN / f"{name}.j2").read_text(encoding="utf-8")
    rendered = run(tmp_path, source, name=f"{name}.j2")
    content = rendered.artifacts[0].content
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_bytes(content)
    assert content == golden.read_bytes()
    assert rendered.artifacts[0].mode == mode
