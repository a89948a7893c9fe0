"""coder_agent_env: every style read back by a real parser and compared with the spec.

Native syntax is parsed with python-hcl2, JSON syntax with json; where Terraform itself is
installed it formats (`terraform fmt`) and evaluates (`terraform console`) the output too.

python-hcl2 findings (8.1.4; see test_python_hcl2_template_escape_limits):
- Default options: a quoted string comes back as written, quotes and escapes included
  ('"a\\"b"'); an expression comes back as "${expr}" (`var.x` -> "${var.x}", but a lone
  identifier such as `string` stays bare); block labels keep their quotes.
- strip_string_quotes=True: strings come back unquoted with backslash escapes decoded
  (\\n \\r \\t \\" \\\\ \\uNNNN \\UNNNNNNNN), except the template escapes `$${` and `%%{`,
  which it returns verbatim instead of as `${` and `%{`.
- Its lexer only knows `$${`/`%%{` followed by a later `}` (ESCAPED_INTERPOLATION is
  /\\$\\$\\{[^}]*\\}/): `"$${"` does not parse, and the match can run past the closing quote.
Terraform reads `$${` as a literal `${` and `%%{` as `%{`, the last `$`/`%` before the brace
pairing with it (hashicorp/hcl hclsyntax/spec.md "Template Literals"; scan_tokens.rl
TemplateNotInterp; parser.go ParseStringLiteralToken): `$$${` reads as `$${`. So these tests hide
exactly those two escapes from python-hcl2 behind private-use sentinels before parsing and turn
them back into `${`/`%{` afterwards; python-hcl2 decodes everything else.

Terraform findings (1.11, test_terraform_reads_back_every_value): a JSON-syntax string is a
template whose scanner drops a leading U+FEFF, and after a CR without LF reads the rest raw
(`$$${` stays `$$${`, even `${var.x}` stays literal). hcl.json_literal writes such values as
`${"<native quoted string>"}`; read_json decodes that form with python-hcl2.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
import tempfile
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from testkit import need

from provision.api import load_spec
from provision.catalog import load_catalog
from provision.errors import DiagnosticsError, Span
from provision.model import Bridge, Coder, Deployment, Provider, Spec, Target, Text, frozen_map
from provision.record import replace
from provision.render import Artifact, hcl, render
from provision.render.terraform import STYLES
from provision.secrets import Origin, Secret

GOLDEN = Path(__file__).parent / "golden" / "terraform"
CODER_TOKEN = "coder-session-CANARY-0f9e8d7c6b5a"
GROQ_KEY = "gsk_CANARY_direct_vendor_key_1234567890"
EXTRA_TOKEN = "extra-CANARY-token-5566"
SECRETS = (CODER_TOKEN, GROQ_KEY, EXTRA_TOKEN)
ENV = {"CODER_SESSION_TOKEN": CODER_TOKEN, "GROQ_API_KEY": GROQ_KEY, "EXTRA_TOKEN": EXTRA_TOKEN}
ENV_SPAN = Span("provision.yaml", 20, 5, 20, 40)
SPEC_YAML = r"""version: 1
deployments:
  prod:
    coder:
      url: https://coder.example.com
      token: {env: CODER_SESSION_TOKEN}
    providers:
      openai:
        via: aibridge
        organization: org-123
      anthropic:
        via: aibridge
        aibridge_instance: claude
      groq:
        api_key: {env: GROQ_API_KEY}
targets:
  agent:
    type: coder_agent_env
    deployment: prod
    path: out/aibridge.tf
    style: __STYLE__
    declare_data_sources: __DECLARE__
    env:
      GREETING: 'say "hi" $${USER} %{x} \ $(id) `id`'
      EXTRA_TOKEN: {env: EXTRA_TOKEN}
"""
GREETING = 'say "hi" ${USER} %{x} \\ $(id) `id`'


@dataclasses.dataclass(frozen=True)
class Expr:
    """A bare expression, as written: `data.coder_workspace_owner.me.session_token`."""

    text: str


@dataclasses.dataclass(frozen=True)
class Tmpl:
    """A string with an interpolation, as written between the quotes."""

    text: str


SESSION_TOKEN = Expr("data.coder_workspace_owner.me.session_token")
EXPECTED_ENV = {
    "OPENAI_API_KEY": SESSION_TOKEN,
    "OPENAI_BASE_URL": Tmpl("${data.coder_workspace.me.access_url}/api/v2/aibridge/openai/v1"),
    "OPENAI_ORG_ID": "org-123",
    "ANTHROPIC_API_KEY": SESSION_TOKEN,
    "ANTHROPIC_BASE_URL": Tmpl("${data.coder_workspace.me.access_url}/api/v2/aibridge/claude"),
    "GROQ_API_KEY": Expr("var.groq_api_key"),
    "GREETING": GREETING,
    "EXTRA_TOKEN": Expr("var.extra_token"),
}


# -- reading the output back -----------------------------------------------------------------

_HIDDEN = {"$${": "\ue000", "%%{": "\ue001"}


def hide_template_escapes(text: str) -> str:
    # str.replace takes the leftmost `$${`, which is Terraform's pairing: `$$${` -> `$` + `${`.
    for escape, sentinel in _HIDDEN.items():
        text = text.replace(escape, sentinel)
    return text


def unhide(text: str) -> str:
    return text.replace("\ue000", "${").replace("\ue001", "%{")


def _hcl2(text: str, *, strip: bool) -> Any:
    options = hcl2.SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=strip
    )
    return hcl2.loads(hide_template_escapes(text), serialization_options=options)


def read_hcl(text: str) -> Any:
    """The file as plain data: strings are their values, expressions Expr, templates Tmpl."""
    return _classify(_hcl2(text, strip=False), _hcl2(text, strip=True))


def _classify(raw: Any, value: Any) -> Any:
    if isinstance(raw, dict):
        return {
            unhide(key): _classify(r, v)
            for (_, r), (key, v) in zip(raw.items(), value.items(), strict=True)
        }
    if isinstance(raw, list):
        return [_classify(r, v) for r, v in zip(raw, value, strict=True)]
    if not isinstance(raw, str):
        return raw
    if not raw.startswith('"'):
        return Expr(raw[2:-1] if raw.startswith("${") else raw)
    if "${" in value:  # a real interpolation: the escaped ones are hidden
        return Tmpl(value.replace("\ue000", "$${").replace("\ue001", "%%{"))
    return unhide(value)


def read_json(text: str) -> Any:
    """JSON syntax: every string is a template, so the same escapes apply after json.loads."""
    return _classify_json(json.loads(text))


def _classify_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _classify_json(v) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    if value.startswith('${"') and value.endswith('"}'):  # a quoted string, see hcl.json_literal
        return read_hcl(f"x = {value[2:-1]}\n")["x"]
    hidden = hide_template_escapes(value)
    if m := re.fullmatch(r"\$\{([^}]*)\}", hidden):
        return Expr(m[1])
    return Tmpl(value) if "${" in hidden else unhide(hidden)


def env_of(style: str, doc: Any, agent: str = "coder_agent.main") -> dict[str, Any]:
    """Environment variable -> value, whatever the style's shape."""
    if style == "locals":
        return dict(doc["locals"][0]["provision_env"])
    if style == "env_block":
        return dict(doc["env"])
    if style == "tf_json":
        resources = doc.get("resource", {}).get("coder_env", {})
    else:
        resources = {
            n: b for block in doc.get("resource", []) for n, b in block["coder_env"].items()
        }
    assert all(r["agent_id"] == Expr(f"{agent}.id") for r in resources.values())
    return {r["name"]: r["value"] for r in resources.values()}


def variables_of(style: str, docs: list[Any]) -> dict[str, Any]:
    if style == "tf_json":
        return dict(docs[0].get("variable", {}))
    return {
        name: body
        for doc in docs
        for block in doc.get("variable", [])
        for name, body in block.items()
    }


def read(style: str, artifacts: tuple[Artifact, ...]) -> list[Any]:
    reader = read_json if style == "tf_json" else read_hcl
    return [reader(a.content.decode()) for a in artifacts]


# -- building specs --------------------------------------------------------------------------


def load(tmp_path: Path, style: str, declare: bool = False) -> tuple[Spec, Target]:
    """Through the real pipeline: YAML on disk, loaded, validated and resolved."""
    text = SPEC_YAML.replace("__STYLE__", style).replace("__DECLARE__", str(declare).lower())
    (tmp_path / "provision.yaml").write_text(text, encoding="utf-8")
    spec = load_spec(tmp_path, env=ENV).spec
    return spec, spec.targets["agent"]


def hand_built(root: Path, env: Mapping[str, Text], **options: Any) -> tuple[Spec, Target]:
    """A target with only its own `env:` values, built directly from the model."""
    target = Target(
        name="t",
        type="coder_agent_env",
        deployment="d",
        path=root / "agent.tf",
        options=frozen_map({**options, "env": frozen_map(env)}),
        spans=frozen_map({"env": ENV_SPAN}),
    )
    spec = Spec(
        root=root,
        files=("provision.yaml",),
        deployments=frozen_map({"d": Deployment(name="d")}),
        targets=frozen_map({"t": target}),
    )
    return spec, target


def golden_name(style: str, artifact: Artifact) -> str:
    part = artifact.address.partition("/")[2]
    suffix = ".tf.json" if style == "tf_json" else ".tf"
    return f"{style}.{part}{suffix}" if part else f"{style}{suffix}"


# -- the hcl primitives ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("", '""'),
        ("plain", '"plain"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("line\nnext\r\ttab", '"line\\nnext\\r\\ttab"'),
        ("${var.x}", '"$${var.x}"'),
        ("%{ if x }", '"%%{ if x }"'),
        ("$${x}", '"$$${x}"'),
        ("$$ %% $x %x {}", '"$$ %% $x %x {}"'),
        ("`id` $(id)", '"`id` $(id)"'),
        ("\x00\x1b\x7f", '"\\u0000\\u001b\\u007f"'),
        ("é😀", '"é😀"'),
        ("\u2028\ufeff\u00a0", '"\\u2028\\ufeff\\u00a0"'),
        ("\U000e0001", '"\\U000e0001"'),
    ],
)
def test_quote(value: str, literal: str) -> None:
    assert hcl.quote(value) == literal


def test_json_literal() -> None:
    assert hcl.json_literal('a"${b}%{c}') == 'a"$${b}%%{c}'  # JSON quoting is json.dumps's job
    # What Terraform's JSON templates mishandle goes in a quoted string (found by the consumer
    # test): a leading U+FEFF, a CR without LF.
    assert hcl.json_literal("\ufeffx${") == '${"\\ufeffx$${"}'
    assert hcl.json_literal("a\r$${") == '${"a\\r$$${"}'
    assert hcl.json_literal("a\r\n$${") == "a\r\n$$${"


@pytest.mark.parametrize(
    ("value", "why"),
    [("\ud800", "surrogate"), ("e\u0301", "NFC"), ("\u212b", "NFC")],
)
def test_quote_refuses_what_terraform_cannot_hold(value: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        hcl.quote(value)
    with pytest.raises(ValueError, match=why):
        hcl.escape_template(value)


def test_names() -> None:
    assert hcl.identifier("openai_api_key") == "openai_api_key"
    assert hcl.identifier("_a-b9") == "_a-b9"
    for bad in ("", "9a", "a.b", "a b", "é", 'a"'):
        with pytest.raises(ValueError, match="not a valid name"):
            hcl.identifier(bad)
    assert hcl.reference("data.coder_workspace.me") == ("data", "coder_workspace", "me")
    with pytest.raises(ValueError, match="Terraform reference"):
        hcl.reference("coder_agent")
    assert [hcl.object_key(k) for k in ("FOO", "a-b", "for", "null")] == [
        "FOO",
        '"a-b"',
        '"for"',
        '"null"',
    ]


# What `terraform fmt` (1.11) leaves unchanged; test_terraform_fmt_* checks that where installed.
FORMAT_SAMPLE = (
    "# head\n"
    "\n"
    'resource "x" "y" {\n'
    "  a         = 1\n"
    '  long_name = "v"\n'
    "\n"
    "  bb = 2\n"
    "  env = {\n"
    "    K      = 1\n"
    "    LONGER = 2\n"
    "  }\n"
    "  c     = 3\n"
    "  empty = {}\n"
    "  nested {}\n"
    "  dd = 4\n"
    "}\n"
)


def test_format_aligns_like_terraform_fmt() -> None:
    body = hcl.Block(
        "resource",
        ("x", "y"),
        (
            hcl.Attr("a", "1"),
            hcl.Attr("long_name", '"v"'),
            hcl.BLANK,
            hcl.Attr("bb", "2"),
            hcl.Attr("env", hcl.Object((("K", "1"), ("LONGER", "2")))),
            hcl.Attr("c", "3"),
            hcl.Attr("empty", hcl.Object(())),
            hcl.Block("nested"),
            hcl.Attr("dd", "4"),
        ),
    )
    assert hcl.format_body([hcl.Comment("head"), hcl.BLANK, body]) == FORMAT_SAMPLE
    with pytest.raises(ValueError, match="printable"):
        hcl.format_body([hcl.Comment("a\nb = 1")])


def test_python_hcl2_template_escape_limits() -> None:
    """What the module docstring says about python-hcl2; if this fails, the library changed and
    the sentinel workaround may be dropped."""
    strip = hcl2.SerializationOptions(strip_string_quotes=True)
    assert hcl2.loads('a = "$${x} %%{y}"\n', serialization_options=strip)["a"] == "$${x} %%{y}"
    with pytest.raises(Exception):  # noqa: B017 - lark raises several exception types
        hcl2.loads('a = "$${"\n')
    assert read_hcl('a = "$${"\nb = "$$${x}"\n') == {"a": "${", "b": "$${x}"}


# -- the renderer ----------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_golden(tmp_path: Path, style: str) -> None:
    spec, target = load(tmp_path, style, declare=style in ("env_block", "tf_json"))
    rendered = render(spec, target)
    files = {golden_name(style, a): a.content for a in rendered.artifacts}
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for stale in GOLDEN.glob(f"{style}.*"):
            stale.unlink()
        for name, content in files.items():
            (GOLDEN / name).write_bytes(content)
    assert sorted(p.name for p in GOLDEN.glob(f"{style}.*")) == sorted(files)
    for name, content in files.items():
        assert content == (GOLDEN / name).read_bytes(), f"{name} differs (UPDATE_GOLDEN=1)"


@pytest.mark.parametrize("style", STYLES)
def test_every_style_reads_back_as_intended(tmp_path: Path, style: str) -> None:
    spec, target = load(tmp_path, style)
    rendered = render(spec, target)
    docs = read(style, rendered.artifacts)
    assert env_of(style, docs[0]) == EXPECTED_ENV
    variables = variables_of(style, docs)
    assert sorted(variables) == ["extra_token", "groq_api_key"]
    for name, origin in (("groq_api_key", "env GROQ_API_KEY"), ("extra_token", "env EXTRA_TOKEN")):
        body = variables[name]
        assert body["type"] in ("string", Expr("string"))
        assert body["sensitive"] is True
        assert origin in body["description"]
    assert rendered.artifacts[0].path == tmp_path / "out" / "aibridge.tf"
    for a in rendered.artifacts:
        assert (a.mode, a.sensitive, a.managed_keys) == (0o644, False, None)
        assert a.content.decode().count("provision apply") == 1
    if style == "tf_json":
        assert rendered.artifacts[0].structured == json.loads(rendered.artifacts[0].content)
    if style == "env_block":
        assert [a.address for a in rendered.artifacts] == [
            "coder_agent_env.agent",
            "coder_agent_env.agent/declarations",
        ]
        assert rendered.artifacts[1].path == tmp_path / "out" / "aibridge.declarations.tf"
    else:
        assert len(rendered.artifacts) == 1


@pytest.mark.parametrize("style", STYLES)
def test_secrets_never_reach_the_output(tmp_path: Path, style: str) -> None:
    spec, target = load(tmp_path, style, declare=True)
    rendered = render(spec, target)
    for artifact in rendered.artifacts:
        for secret in SECRETS:
            assert secret.encode() not in artifact.content
            assert secret not in repr(artifact.structured)
    declared = set(variables_of(style, read(style, rendered.artifacts)))
    refs = {
        v.text
        for v in env_of(style, read(style, rendered.artifacts)[0]).values()
        if isinstance(v, Expr) and v.text.startswith("var.")
    }
    assert refs == {f"var.{name}" for name in declared}


@pytest.mark.parametrize("style", STYLES)
def test_declared_data_sources_follow_the_options(tmp_path: Path, style: str) -> None:
    catalog = load_catalog()
    openai = catalog.get("openai")
    assert openai is not None
    token = Secret(CODER_TOKEN, Origin("env", "CODER_SESSION_TOKEN"))
    provider = Provider(
        id="openai",
        deployment="d",
        catalog=openai,
        bridge=Bridge(kind="openai", instance="openai"),
        base_url="https://coder.example.com/api/v2/aibridge/openai/v1",
        api_key=token,
    )
    target = Target(
        name="t",
        type="coder_agent_env",
        deployment="d",
        path=tmp_path / "a.tf",
        options=frozen_map(
            {
                "style": style,
                "declare_data_sources": True,
                "agent": "coder_agent.dev",
                "workspace_data": "data.coder_workspace.ws",
                "owner_data": "data.coder_workspace_owner.owner",
            }
        ),
    )
    coder = Coder(url="https://coder.example.com", token=token)
    spec = Spec(
        root=tmp_path,
        files=("provision.yaml",),
        deployments=frozen_map(
            {
                "d": Deployment(
                    name="d",
                    coder=coder,
                    providers=frozen_map({"openai": provider}),
                )
            }
        ),
        targets=frozen_map({"t": target}),
    )
    docs = read(style, render(spec, target).artifacts)
    data = docs[-1]["data"]
    if style != "tf_json":
        data = {t: n for block in data for t, n in block.items()}
    assert data == {"coder_workspace": {"ws": {}}, "coder_workspace_owner": {"owner": {}}}
    assert env_of(style, docs[0], agent="coder_agent.dev") == {
        "OPENAI_API_KEY": Expr("data.coder_workspace_owner.owner.session_token"),
        "OPENAI_BASE_URL": Tmpl("${data.coder_workspace.ws.access_url}/api/v2/aibridge/openai/v1"),
    }


def test_names_stay_unique(tmp_path: Path) -> None:
    secret = Secret("s3cret-value", Origin("file", "/run/secrets/foo"))
    spec, target = hand_built(tmp_path, {"Foo": "a", "FOO": "b", "foo": secret})
    doc = read_hcl(render(spec, target).artifacts[0].content.decode())
    names = [n for block in doc["resource"] for n in block["coder_env"]]
    assert names == ["foo", "env2_foo", "env3_foo"]
    assert [n for block in doc["variable"] for n in block] == ["foo"]
    assert env_of("coder_env", doc) == {"Foo": "a", "FOO": "b", "foo": Expr("var.foo")}
    assert "file /run/secrets/foo" in doc["variable"][0]["foo"]["description"]


def test_odd_secret_origin_is_shown_escaped_not_refused(tmp_path: Path) -> None:
    secret = Secret("s3cret-value", Origin("file", "/run/e\u0301\nx"))
    spec, target = hand_built(tmp_path, {"K": secret})
    doc = read_hcl(render(spec, target).artifacts[0].content.decode())
    assert (
        "file /run/\u00e9\\u000ax in the provision spec" in doc["variable"][0]["k"]["description"]
    )


@pytest.mark.parametrize(
    ("options", "summary"),
    [
        ({"agent": "coder agent"}, 'Invalid agent in target "t"'),
        ({"owner_data": "x"}, 'Invalid owner_data in target "t"'),
        (
            {"declare_data_sources": True, "workspace_data": "local.ws.x"},
            'Cannot declare workspace_data "local.ws.x" in target "t"',
        ),
    ],
)
def test_bad_options_are_diagnostics(tmp_path: Path, options: dict[str, Any], summary: str) -> None:
    spec, target = hand_built(tmp_path, {"A": "b"}, **options)
    with pytest.raises(DiagnosticsError) as info:
        render(spec, target)
    assert [d.summary for d in info.value.diagnostics] == [summary]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("value", ["e\u0301", "a\ud800"])
def test_unrepresentable_value_names_target_and_span(
    tmp_path: Path, style: str, value: str
) -> None:
    spec, target = hand_built(tmp_path, {"GOOD": "ok", "BAD": value}, style=style)
    with pytest.raises(DiagnosticsError) as info:
        render(spec, target)
    (diag,) = info.value.diagnostics
    assert diag.summary == 'Cannot write BAD as Terraform in target "t"'
    assert diag.span == ENV_SPAN
    assert value not in diag.detail


# -- round trips -----------------------------------------------------------------------------

# Everything a template, a shell or a parser could take for syntax.
NASTY = [
    '"',
    "\\",
    "\\\\",
    "$",
    "$$",
    "${",
    "$${",
    "$$${",
    "}",
    "{",
    "%",
    "%{",
    "%%{",
    "%%%{",
    "~}",
    "${var.x}",
    "%{ if true }x%{ endif }",
    "`id`",
    "$(id)",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\x00",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u2028",
    "\ufeff",
    "é",
    "😀",
    "\\n",
    "\\u0041",
    "#",
    "//",
    "/*",
    "<<EOT\n",
    "EOT",
    " ",
    "=",
]
CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\ue000\ue001")
LITERAL = st.one_of(
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(CHARS, max_size=8)), max_size=16).map(
        "".join
    ),
    st.text(CHARS, max_size=40),
    st.text(CHARS, min_size=1000, max_size=4000),
).map(lambda s: unicodedata.normalize("NFC", s))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=LITERAL)
def test_literal_round_trip(value: str) -> None:
    spec, target = hand_built(Path("/spec"), {"V": value, "W": "after"})
    for style in STYLES:
        styled = replace(target, options={**target.options, "style": style})
        (artifact,) = render(spec, styled).artifacts
        doc = read(style, (artifact,))[0]
        assert env_of(style, doc) == {"V": value, "W": "after"}, style


NATIVE_STYLES = [s for s in STYLES if s != "tf_json"]  # fmt is for native syntax only


@pytest.mark.consumer
@pytest.mark.parametrize("style", NATIVE_STYLES)
def test_terraform_fmt_leaves_output_unchanged(tmp_path: Path, style: str) -> None:
    terraform = need("terraform", optional=True)
    spec, target = load(tmp_path, style, declare=True)
    for artifact in render(spec, target).artifacts:
        text = artifact.content.decode()
        assert run_terraform(terraform, ["fmt", "-"], tmp_path, text) == text


@pytest.mark.consumer
def test_terraform_fmt_agrees_with_the_format_sample(tmp_path: Path) -> None:
    terraform = need("terraform", optional=True)
    assert run_terraform(terraform, ["fmt", "-"], tmp_path, FORMAT_SAMPLE) == FORMAT_SAMPLE


@pytest.mark.consumer
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(LITERAL, min_size=1, max_size=20))
@example(values=["\ufeff", "\ufeff${x}", "$$${", "%%%{", "\r$$${", "\r\n$${", "\x00", "\u00e9"])
def test_terraform_reads_back_every_value(values: list[str]) -> None:
    """Terraform itself evaluates the locals file and, for JSON syntax, the rendered coder_env
    value strings moved into a locals block (the same template evaluation applies)."""
    terraform = need("terraform", optional=True)
    env = {f"V{i}": v for i, v in enumerate(values)}
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        spec, target = hand_built(root, env, style="locals")
        (root / "main.tf").write_bytes(render(spec, target).artifacts[0].content)
        tf_json = replace(target, options={**target.options, "style": "tf_json"})
        resources = render(spec, tf_json).artifacts[0].structured["resource"]["coder_env"]
        locals_json = {"locals": {"from_json": {r["name"]: r["value"] for r in resources.values()}}}
        (root / "json.tf.json").write_text(json.dumps(locals_json), encoding="utf-8")
        # Each value goes out base64-encoded: jsonencode's result is itself a cty string, so it
        # gets NFC-normalized, which can fuse an escape like `\r` with a following combining mark.
        expr = (
            "base64encode(jsonencode([for m in [local.provision_env, local.from_json] :"
            " {for k, v in m : k => base64encode(v)}]))"
        )
        out = run_terraform(terraform, ["console"], root, expr + "\n").strip()
    read_back = [
        {k: base64.b64decode(v).decode() for k, v in m.items()}
        for m in json.loads(base64.b64decode(json.loads(out)))
    ]
    assert read_back == [env, env]


def run_terraform(terraform: str, args: list[str], cwd: Path, stdin: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": os.devnull,
        "TF_IN_AUTOMATION": "1",
    }
    proc = subprocess.run(
        [terraform, *args],
        cwd=cwd,
        input=stdin.encode(),
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode()
