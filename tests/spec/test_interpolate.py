"""provision.spec.interpolate: `${var.NAME}`, `${env.NAME}`, `${env.NAME:-default}`, `$${`.

Besides examples, a property: for any string, the result is the literal text (with `$${`
unescaped), a var/env value, or a diagnostic — nothing is ever evaluated, whatever code-looking
text sits between `${` and `}`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.errors import Span
from provision.secrets import Origin, Secret
from provision.spec.interpolate import MISSING, EnvValue, Interpolator, Ref, parse
from provision.spec.source import SourceMap

F = "spec.yaml"


def spans(*paths: tuple[Any, ...]) -> SourceMap:
    """A source map giving path number i the span spec.yaml:<i+1>:5."""
    return SourceMap(values={p: Span(F, i + 1, 5, i + 1, 9) for i, p in enumerate(paths)})


def interp(
    variables: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    source: SourceMap | None = None,
) -> Interpolator:
    return Interpolator(variables or {}, env or {}, source or SourceMap())


def one(
    text: str, variables: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> tuple[Any, list[str]]:
    i = interp(variables, env, spans(("x",)))
    value = i.string(text, ("x",))
    return value, [d.summary for d in i.finish()]


# -- parse ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("", [""]),
        ("plain", ["plain"]),
        ("${var.x}", [Ref("var", "x")]),
        ("${env.HOME}", [Ref("env", "HOME")]),
        ("a${var.x}b", ["a", Ref("var", "x"), "b"]),
        ("${var.a}${var.b}", [Ref("var", "a"), Ref("var", "b")]),
        ("${env.X:-}", [Ref("env", "X", "")]),
        ("${env.X:-a b:c-d}", [Ref("env", "X", "a b:c-d")]),
        ("${env.X:-${var.y}", [Ref("env", "X", "${var.y")]),
        ("$${var.x}", ["${var.x}"]),
        ("a $${ b", ["a ${ b"]),
        ("$${var.x} and ${var.y}", ["${var.x} and ", Ref("var", "y")]),
        ("$$${var.x}", ["$${var.x}"]),
        ("$ {var.x} $var.x {var.x} $(id) `id`", ["$ {var.x} $var.x {var.x} $(id) `id`"]),
        ("}{", ["}{"]),
        ("${var._x9}", [Ref("var", "_x9")]),
    ],
)
def test_parse(text: str, parts: list[object]) -> None:
    assert parse(text) == parts


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${foo()}", 'Unsupported expression "${foo()}"'),
        ("${}", 'Unsupported expression "${}"'),
        ("${ var.x }", 'Unsupported expression "${ var.x }"'),
        ("${VAR.x}", 'Unsupported expression "${VAR.x}"'),
        ("${var.x.y}", 'Unsupported expression "${var.x.y}"'),
        ("${var.9x}", 'Unsupported expression "${var.9x}"'),
        ("${local.x}", 'Unsupported expression "${local.x}"'),
        ("${var.x:-d}", 'A default (":-") is only allowed for env references: "var.x:-d"'),
        ("${var.x", 'Unterminated "${" in "${var.x"'),
        ("ok ${var.x} ${", 'Unterminated "${" in "${"'),
        ("${{7*7}}", 'Unsupported expression "${{7*7}"'),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse(text)


def test_parse_error_messages_are_clipped() -> None:
    with pytest.raises(ValueError) as info:
        parse("${" + "x" * 500 + "}")
    assert len(str(info.value)) < 200
    assert "…" in str(info.value)


# -- values ----------------------------------------------------------------------------------


def test_whole_value_keeps_its_type() -> None:
    variables = {"n": 5, "f": 0.5, "b": False, "l": ["a", "b"], "m": {"k": 1}, "s": "x"}
    for name, value in variables.items():
        got, diags = one(f"${{var.{name}}}", variables)
        assert got == value and type(got) is type(value) and diags == []


def test_embedded_values_become_text() -> None:
    variables = {"n": 5, "f": 0.5, "b": False, "t": True, "s": "x"}
    got, diags = one("${var.n}|${var.f}|${var.b}|${var.t}|${var.s}", variables)
    assert (got, diags) == ("5|0.5|false|true|x", [])


@pytest.mark.parametrize("name", ["l", "m"])
def test_lists_and_maps_cannot_be_embedded(name: str) -> None:
    got, diags = one(f"a ${{var.{name}}}", {"l": [1], "m": {"k": 1}})
    assert got is MISSING
    assert diags == [f"Cannot embed var.{name} in a string at x"]


def test_env_references() -> None:
    env = {"HOME": "/home/me", "EMPTY": ""}
    assert one("${env.HOME}/.mux", env=env) == ("/home/me/.mux", [])
    assert one("${env.HOME:-/root}", env=env) == ("/home/me", [])
    assert one("${env.NOPE:-/root}", env=env) == ("/root", [])
    # As in the shell, ":-" also replaces an empty value.
    assert one("${env.EMPTY:-fallback}", env=env) == ("fallback", [])
    assert one("${env.EMPTY}", env=env) == ("", [])
    value, _ = one("${env.HOME}", env=env)
    assert isinstance(value, EnvValue) and value.env_name == "HOME"


def test_dollar_dollar_is_a_literal_dollar_brace() -> None:
    assert one("echo $${HOME} $${var.x}", {"x": "no"}) == ("echo ${HOME} ${var.x}", [])


def test_values_are_never_interpolated_again() -> None:
    env = {"A": "${env.B}", "B": "secret"}
    assert one("${env.A}", env=env) == ("${env.B}", [])
    assert one("x ${var.v}", {"v": "${env.B}"}, env) == ("x ${env.B}", [])


def test_undeclared_variable_suggests_a_name() -> None:
    i = interp({"coder_url": "u"}, {}, spans(("a",)))
    assert i.string("${var.coder_ulr}", ("a",)) is MISSING
    (diag,) = i.finish()
    assert diag.summary == 'Reference to undeclared variable "coder_ulr"'
    assert diag.detail == 'Did you mean "coder_url"?'
    assert str(diag.span) == "spec.yaml:1:5"


def test_undeclared_input_inside_a_module() -> None:
    i = Interpolator({}, {}, SourceMap(), scope="input")
    i.string("${var.zzz}", ())
    (diag,) = i.finish()
    assert diag.summary == 'Reference to undeclared input "zzz"'
    assert diag.detail == "Declare it under `inputs`."


def test_declared_variable_without_value_is_missing_without_a_diagnostic() -> None:
    # missing_required reports it once, at the declaration.
    assert one("a ${var.x}", {"x": MISSING}) == (MISSING, [])


def test_unset_env_is_reported_once_naming_every_place() -> None:
    paths = [("a",), ("b", 0), ("c", "d")]
    i = interp(env={}, source=spans(*paths))
    for p in paths:
        assert i.string("k=${env.TOKEN_X} ${env.OTHER}", p) is MISSING
    diags = i.finish()
    assert [d.summary for d in diags] == [
        'Environment variable "TOKEN_X" is not set',
        'Environment variable "OTHER" is not set',
    ]
    token = diags[0]
    assert str(token.span) == "spec.yaml:1:5"
    assert token.detail.splitlines() == [
        "Used at:",
        "spec.yaml:1:5",
        "spec.yaml:2:5",
        "spec.yaml:3:5",
        "Set TOKEN_X, or write ${env.TOKEN_X:-default} to give a fallback.",
    ]
    assert i.finish() == diags  # reported once, not again


def test_walk_interpolates_values_not_keys() -> None:
    i = interp({"x": "X"}, {})
    doc = {"${var.x}": ["${var.x}", {"k": "${var.x}y"}, 3, None, True]}
    assert i.walk(doc) == {"${var.x}": ["X", {"k": "Xy"}, 3, None, True]}
    assert i.finish() == []


def test_bad_expression_is_reported_at_its_value() -> None:
    i = interp({}, {}, spans(("a",), ("b",)))
    assert i.walk({"a": "ok", "b": "${oops}"}) == {"a": "ok", "b": "${oops}"}
    (diag,) = i.finish()
    assert str(diag.span) == "spec.yaml:2:5"


# -- secret taint ----------------------------------------------------------------------------


def test_whole_reference_to_a_secret_is_that_secret() -> None:
    token = Secret("tok-123456", Origin("variable", "token"))
    got, _ = one("${var.token}", {"token": token})
    assert got is token


@pytest.mark.parametrize(
    "text",
    [
        "Bearer ${var.token}",
        "${var.token}${var.plain}",
        "https://${var.plain}.example.com/${var.token}",
    ],
)
def test_a_string_containing_a_secret_becomes_a_secret(text: str) -> None:
    token = Secret("tok-123456", Origin("variable", "token"))
    got, diags = one(text, {"token": token, "plain": "p"})
    assert diags == []
    assert isinstance(got, Secret)
    assert got.reveal() == text.replace("${var.token}", "tok-123456").replace("${var.plain}", "p")
    assert got.origin == Origin("interpolated", "x")
    assert "tok-123456" not in f"{got} {got!r}"


def test_a_string_without_secrets_stays_plain() -> None:
    got, _ = one("Bearer ${var.plain}", {"plain": "p"})
    assert got == "Bearer p" and not isinstance(got, Secret)


# -- property: nothing but var./env. is ever evaluated ---------------------------------------

VARIABLES: dict[str, Any] = {"name": "N", "n": 7, "flag": True, "items": ["a"]}
ENV = {"HOME": "/h", "TOKEN": "tkn"}
_ORACLE = re.compile(
    r"\$\$\{"
    r"|\$\{(?P<kind>var|env)\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|\$\{"
)

EVIL = [
    "__import__('os').system('touch {canary}')",
    "{{7*7}}",
    "7*7",
    "{7*7}",
    "self.__class__",
    "config.items()",
    "$(touch {canary})",
    "`touch {canary}`",
    "os.system('touch {canary}')",
    "env.HOME; touch {canary}",
    "var.name.__class__",
    "var.name)",
    "var.name:-x",
    "env.HOME:-$(touch {canary})",
    'exec(\'open("{canary}","w")\')',
    "lookup('pipe','touch {canary}')",
    "${var.n}",
    "{% raw %}",
    "#{7*7}",
    "@(7*7)",
    "%{7*7}",
    "\\",
    "",
    " ",
    "env.",
    "var.",
    "env.HOME ",
]


def expected(text: str) -> tuple[bool, Any]:
    """What interpolation may produce: (ok, value). ok=False means only a diagnostic is right."""
    parts: list[Any] = []
    pos = 0
    for m in _ORACLE.finditer(text):
        parts.append(text[pos : m.start()])
        pos = m.end()
        if m.group() == "$${":
            parts.append("${")
            continue
        if not m.group("kind") or (m.group("kind") == "var" and m.group("default") is not None):
            return False, None
        name = m.group("name")
        if m.group("kind") == "var":
            if name not in VARIABLES:
                return False, None
            parts.append(VARIABLES[name])
        elif name in ENV:
            parts.append(ENV[name])
        elif m.group("default") is not None:
            parts.append(m.group("default"))
        else:
            return False, None
    parts.append(text[pos:])
    whole = _ORACLE.fullmatch(text)
    if whole and whole.group("kind"):
        return True, parts[1]
    if any(isinstance(p, list) for p in parts):
        return False, None
    return True, "".join(
        ("true" if p else "false") if isinstance(p, bool) else str(p) for p in parts
    )


_PIECES = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="$"), max_size=6),
    st.sampled_from(["$${", "$", "{", "}", "${", "$$"]),
    st.text(max_size=12).map(lambda b: "${" + b + "}"),
    st.sampled_from(EVIL).map(lambda b: "${" + b + "}"),
    st.sampled_from([f"${{{k}.{n}}}" for k in ("var", "env") for n in (*VARIABLES, *ENV, "nope")]),
    st.tuples(
        st.sampled_from(["HOME", "UNSET"]),
        st.text(alphabet=st.characters(blacklist_characters="}"), max_size=6),
    ).map(lambda t: f"${{env.{t[0]}:-{t[1]}}}"),
)
# "{canary}" in an evil body stands for the canary file's path, filled in by the test.
TEMPLATES = st.lists(_PIECES, max_size=6).map("".join)


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("interp") / "CANARY"


def check(text: str, canary: Path) -> None:
    i = interp(VARIABLES, ENV)
    value = i.string(text, ())
    diags = i.finish()
    ok, want = expected(text)
    if diags:
        assert not ok, (text, [d.summary for d in diags])
    else:
        assert ok, (text, value)
        assert value == want, text
        assert type(value) is type(want) or isinstance(value, str)
    assert not canary.exists()


@pytest.mark.parametrize("body", EVIL)
def test_code_looking_bodies_are_never_evaluated(canary: Path, body: str) -> None:
    text = "${" + body.replace("{canary}", str(canary)) + "}"
    for t in (text, f"pre {text} post", "$" + text, f"$${text}"):
        check(t, canary)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEMPLATES)
def test_only_var_and_env_references_are_evaluated(canary: Path, text: str) -> None:
    check(text.replace("{canary}", str(canary)), canary)
