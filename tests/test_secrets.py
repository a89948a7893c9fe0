"""Secrets as a type, and the canary test.

The canary test plants `canary-<uuid>` values in an environment variable read through
`{env: …}`, in a var file for a sensitive variable, and in a secret file read through
`{file: …}`; then runs every command the CLI offers (successful and failing runs) in real
subprocesses and proves no canary reaches any output or any file except where it was planted
and the output of a target that explicitly inlines secrets.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import pickle
import re
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from provision import api
from provision.cli import main
from provision.errors import Diagnostic, ProvisionError
from provision.report import Output
from provision.secrets import (
    MASK,
    REDACTOR,
    Origin,
    Redactor,
    Secret,
    contains_secret,
    mask,
)

ROOT = Path(__file__).resolve().parents[1]
VALUE = "sk-live-0123456789abcdef"


# -- the type --------------------------------------------------------------------------------


@pytest.fixture
def secret() -> Secret:
    return Secret(VALUE, Origin("env", "OPENAI_API_KEY"))


def test_text_forms_never_show_the_value(secret: Secret) -> None:
    forms = [
        str(secret),
        repr(secret),
        format(secret),
        format(secret, ">40"),
        f"{secret}",
        f"{secret!r}",
        f"{secret!s}",
        f"{secret:^30}",
        "%s" % secret,  # noqa: UP031
        "%r" % (secret,),  # noqa: UP031
        "{}".format(secret),  # noqa: UP032
        json.dumps({"k": secret}, default=str),
        json.dumps([secret], default=repr),
        str([secret]),
        str({"k": secret}),
        repr((secret,)),
    ]
    for text in forms:
        assert VALUE not in text
        assert MASK in text
    assert repr(secret) == "Secret((sensitive value), origin=env OPENAI_API_KEY)"


def test_json_without_a_default_refuses(secret: Secret) -> None:
    with pytest.raises(TypeError) as info:
        json.dumps({"k": secret})
    assert VALUE not in str(info.value)


def test_pickle_never_carries_the_value(secret: Secret) -> None:
    for obj in (secret, {"nested": [secret]}):
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            try:
                data = pickle.dumps(obj, protocol=protocol)
            except (TypeError, pickle.PicklingError) as exc:
                assert VALUE not in str(exc)
            else:
                assert VALUE.encode() not in data


def test_reveal_is_the_one_way_to_the_value(secret: Secret) -> None:
    assert secret.reveal() == VALUE
    assert not hasattr(secret, "__dict__")
    with pytest.raises(AttributeError):
        secret.origin = Origin("literal")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        secret._candidates = ("x",)  # type: ignore[misc]
    assert secret.reveal() == VALUE


def test_logging_and_exceptions_show_the_mask(secret: Secret) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("provision.test_secrets")
    log.addHandler(handler)
    try:
        log.warning("key=%s extra=%r", secret, secret)
    finally:
        log.removeHandler(handler)
    assert VALUE not in stream.getvalue()
    err = ProvisionError(f"could not use {secret}")
    assert VALUE not in str(err) and VALUE not in repr(err)
    assert all(VALUE not in d.format() for d in err.diagnostics)


def test_candidates_fingerprints_equality(secret: Secret) -> None:
    rotated = Secret(["k-new-1111", "k-old-2222", "k-new-1111"], Origin("env_list", "KEYS"))
    assert rotated.reveal() == "k-new-1111"
    assert [c.reveal() for c in rotated.candidates] == ["k-new-1111", "k-old-2222"]
    assert all(c.origin == rotated.origin for c in rotated.candidates)
    f1, f2 = secret.fingerprint(b"k1"), secret.fingerprint(b"k2")
    assert f1.startswith("hmac-sha256:") and f1 != f2 and VALUE not in f1
    assert f1 == Secret(VALUE).fingerprint(b"k1")
    assert secret == Secret(VALUE, Origin("file", "other")) and secret != Secret("other-value")
    assert secret != VALUE
    assert hash(secret) == hash(Secret(VALUE))


def test_equality_of_non_ascii_values() -> None:
    # hmac.compare_digest refuses str with non-ASCII characters; a passphrase may have them.
    assert Secret("clé-secrète-ü") == Secret("clé-secrète-ü")
    assert Secret("clé-secrète-ü") != Secret("clé-secrète-u")
    assert Secret(["ключ-1111", "κλειδί-2222"]) == Secret(["ключ-1111", "κλειδί-2222"])
    assert Secret("k\udcff-lone") == Secret("k\udcff-lone")  # never raises
    assert Secret(["a\0b-0000"]) != Secret(["a", "b-0000"])  # the candidates, not their join


def test_unknown_secret(secret: Secret) -> None:
    unknown = Secret.unknown(Origin("env", "TOKEN"))
    assert not unknown.known and secret.known
    with pytest.raises(ProvisionError, match="The secret from env TOKEN has not been read"):
        unknown.reveal()
    assert unknown.candidates == ()


def test_copies_keep_the_value_hidden(secret: Secret) -> None:
    for copier in (copy.copy, copy.deepcopy):
        try:
            other = copier(secret)
        except TypeError as exc:
            assert VALUE not in str(exc)
        else:
            assert other.reveal() == VALUE and VALUE not in repr(other)


# -- redaction by value ----------------------------------------------------------------------


def test_every_wrapped_value_is_redacted_by_value() -> None:
    Secret("abcd-1")
    Secret("abcd-1-and-more")
    Secret(["rot-aaaa", "rot-bbbb"])
    text = "x abcd-1-and-more y abcd-1 z rot-bbbb abcd-1-and"
    assert REDACTOR.redact(text) == f"x {MASK} y {MASK} z {MASK} {MASK}-and"


def test_longest_first_even_when_added_later() -> None:
    Secret("token")
    assert REDACTOR.redact("token-extended") == f"{MASK}-extended"
    Secret("token-extended")
    assert REDACTOR.redact("token-extended token") == f"{MASK} {MASK}"


def test_regex_characters_and_short_values() -> None:
    Secret("a.b*c(d)[e]$")
    Secret("abc")  # too short to mask by value without masking everything
    assert REDACTOR.redact("a.b*c(d)[e]$ aXbbc abc") == f"{MASK} aXbbc abc"


def test_no_secrets_no_change() -> None:
    assert REDACTOR.redact("nothing here") == "nothing here"


# -- redaction of the forms provision writes --------------------------------------------------


def _upper(s: str) -> str:
    return s.upper()


def _doubled_quotes(s: str) -> str:
    if "!" in s:
        raise ValueError("this format cannot hold !")
    return s.replace('"', '""')


def test_a_value_is_masked_in_every_registered_encoding() -> None:
    redactor = Redactor()
    redactor.add('say-"hi"-now')
    assert redactor.redact('x say-""hi""-now y') == 'x say-""hi""-now y'
    redactor.add_encoders(_doubled_quotes, _upper)  # after the value: the pattern is rebuilt
    text = 'raw say-"hi"-now, doubled say-""hi""-now, upper SAY-"HI"-NOW'
    assert redactor.redact(text) == f"raw {MASK}, doubled {MASK}, upper {MASK}"
    assert redactor.forms('say-"hi"-now') == {'say-"hi"-now', 'say-""hi""-now', 'SAY-"HI"-NOW'}


def test_encodings_follow_the_rules_for_values() -> None:
    redactor = Redactor()
    redactor.add_encoders(_doubled_quotes, _doubled_quotes)
    redactor.add_encoders(_doubled_quotes)
    redactor.add('ab"')  # too short in any form
    redactor.add('no!"way')  # the encoder refuses it: only the raw value is masked
    redactor.add('ab"c')
    redactor.add('ab"cd')  # longest first: ab""cd is masked whole, not as ab""c + d
    assert redactor.forms('no!"way') == {'no!"way'}
    assert redactor.forms('ab"') == set()
    text = 'ab" ab"" no!"way no!""way ab""cd ab""c'
    assert redactor.redact(text) == f'ab" ab"" {MASK} no!""way {MASK} {MASK}'
    redactor.clear()
    assert redactor.redact(text) == text
    redactor.add('ab"c')  # clear forgets values, not encoders
    assert redactor.redact('ab""c') == MASK


def test_concurrent_values_and_encoders() -> None:
    redactor = Redactor()
    values = [f"value-{n:03d}-'" for n in range(200)]

    def work(n: int) -> str:
        redactor.add(values[n])
        if n == 100:
            redactor.add_encoders(_doubled_quotes, _upper)
        return redactor.redact(values[n])

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(work, range(200))) == {MASK}
    text = " ".join(v.upper() for v in values)
    assert redactor.redact(text) == " ".join([MASK] * 200)


NASTY_SECRETS = [
    "sk-'quote'-0001",
    'sk-"double"-0002',
    "sk-back\\slash\\-0003",
    "sk-line\nbreak\r\n-0004",
    "sk-$dollar-${x}-%{y}-0005",
    "sk-`tick`-\t-0006",
    "sk-é😀\u2019\u2018\u00a0\x1b-0007",
]


def _renderer_quoters() -> list[tuple[str, Callable[[str], str]]]:
    from provision.render import hcl, jsonc, shell

    return [
        ("posix", shell.quote_posix),
        ("fish", shell.quote_fish),
        ("powershell", shell.quote_powershell),
        ("dotenv", shell.quote_dotenv),
        ("jsonc", jsonc.dumps),
        ("hcl", hcl.quote),
        ("json", lambda s: json.dumps(s, ensure_ascii=False)),
    ]


@pytest.mark.parametrize("value", NASTY_SECRETS)
def test_every_renderer_registers_the_escaping_it_writes(value: str) -> None:
    """What a renderer writes for a secret is masked: the renderers' own quoting functions
    produce the literal, so a new escape in one of them cannot slip past the redactor."""
    import provision.render.template  # noqa: F401  (registers the `json` filter's escaping)

    Secret(value)
    for name, quote in _renderer_quoters():
        try:
            literal = quote(value)
        except ValueError:
            continue  # the format refuses the value: it is never written
        redacted = REDACTOR.redact(f"X={literal}\n")
        assert redacted in (f"X={literal[0]}{MASK}{literal[-1]}\n", f"X={MASK}\n"), name


def test_a_value_encoded_as_json_is_masked_in_the_guards() -> None:
    """The state and plan-file writers refuse text in which REDACTOR finds a secret: a value
    JSON-escaped in their documents is found too."""
    Secret('pw-"quoted"\\-0008')
    text = json.dumps({"leak": 'pw-"quoted"\\-0008'}, ensure_ascii=False)
    assert REDACTOR.redact(text) != text


def test_mask_walks_structures(secret: Secret) -> None:
    doc = {"a": secret, "b": [1, f"x {VALUE} y", {"c": (secret,)}], VALUE: None, "n": None}
    assert mask(doc) == {"a": MASK, "b": [1, f"x {MASK} y", {"c": [MASK]}], MASK: None, "n": None}
    assert contains_secret(doc) and not contains_secret({"a": [1, "x"]})


def test_output_redacts_everything_it_writes(secret: Secret) -> None:
    out, err = io.StringIO(), io.StringIO()
    o = Output(no_color=True, stdout=out, stderr=err)
    o.out(f"value {secret.reveal()}")
    o.err(f"value {secret.reveal()}")
    o.json({"k": secret, "t": secret.reveal()})
    o.diagnostics([Diagnostic.error(f"bad {secret.reveal()}", f"detail {secret.reveal()}")])
    assert VALUE not in out.getvalue() + err.getvalue()
    assert out.getvalue().count(MASK) == 3


def test_crash_log_is_redacted(
    secret: Secret,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"unexpected with {secret.reveal()}")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(api, "load_spec", boom)
    assert main(["validate", "-f", str(ROOT / "examples" / "laptop-local-models")]) == 1
    captured = capsys.readouterr()
    assert "An unexpected error has occurred: RuntimeError" in captured.err
    assert "Traceback" not in captured.out + captured.err
    (log,) = tmp_path.glob("provision-crash-*.log")
    text = log.read_text()
    assert "RuntimeError: unexpected with (sensitive value)" in text
    assert VALUE not in text + captured.out + captured.err
    assert log.stat().st_mode & 0o077 == 0


# -- the canary test -------------------------------------------------------------------------


@dataclass(frozen=True)
class Canaries:
    env: str
    var: str
    file: str

    @property
    def all(self) -> tuple[str, str, str]:
        return (self.env, self.var, self.file)


GOOD = """\
    version: 1
    variables:
      team_key: {type: string, sensitive: true}
    deployments:
      dev:
        coder: {url: "http://127.0.0.1:9", token: {env: CANARY_TOKEN}}
        providers:
          openai: {via: aibridge, probe: {enabled: false}}
          groq: {api_key: "${var.team_key}", probe: {enabled: false}}
          mistral: {api_key: {file: key.txt}, probe: {enabled: false}}
          vllm:
            base_url: http://127.0.0.1:9/v1
            headers: {X-Team: "${var.team_key}", X-Env: {env: CANARY_TOKEN}}
            probe: {enabled: false}
    targets:
      inline:
        type: mux_providers
        deployment: dev
        path: out/inline/providers.jsonc
        secrets: inline
      mux_env: {type: mux_providers, deployment: dev, providers: [openai], secrets: env,
                path: out/env/providers.jsonc}
      sh: {type: shell_exports, deployment: dev, providers: [openai], path: out/env.sh,
           secrets: reference}
      tf: {type: coder_agent_env, deployment: dev, providers: [openai], path: out/ai.tf}
    """
# Every secret in a place that cannot hold it, over plain http to a remote host.
BAD_FIELDS = """\
    version: 1
    variables:
      team_key: {type: string, sensitive: true}
    deployments:
      dev:
        coder: {url: "http://coder.invalid", token: {env: CANARY_TOKEN}}
        providers:
          groq: {api_key: "${var.team_key}", probe: {enabled: false}}
          mistral: {api_key: {file: key.txt}, probe: {enabled: false}}
          vllm:
            base_url: http://gpu.invalid:8000
            api_key: {env: CANARY_TOKEN}
            headers: {X-Team: "Bearer ${var.team_key}"}
            probe: {enabled: false}
    targets:
      sh: {type: shell_exports, deployment: dev, path: out/bad.sh, secrets: reference}
      mux: {type: mux_providers, deployment: dev, path: out/bad.jsonc, secrets: env}
    """
# The sensitive variable has the wrong type: the error is about the canary's own value.
BAD_TYPE = """\
    version: 1
    variables:
      team_key: {type: number, sensitive: true}
      keys: {type: list, sensitive: true}
    deployments:
      dev:
        providers:
          groq: {api_key: {env: CANARY_TOKEN}}
    """
# Secrets where a URL and a display name belong.
MISPLACED = """\
    version: 1
    variables:
      team_key: {type: string, sensitive: true}
    deployments:
      dev:
        providers:
          vllm: {base_url: "http://${var.team_key}.invalid/v1", api_key: {file: key.txt}}
    """


@dataclass
class Run:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str


def cli_commands() -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "provision", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    section = proc.stdout.split("Commands:", 1)[1]
    return [line.split()[0] for line in section.splitlines() if line.startswith("  ")]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[Path, Canaries, dict[str, str]]]:
    canaries = Canaries(*(f"canary-{uuid.uuid4()}" for _ in range(3)))
    for name, text in (
        ("good", GOOD),
        ("bad_fields", BAD_FIELDS),
        ("bad_type", BAD_TYPE),
        ("misplaced", MISPLACED),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "spec.yaml").write_text(textwrap.dedent(text))
        (tmp_path / name / "key.txt").write_text(canaries.file + "\n")
    (tmp_path / "team.vars.yaml").write_text(
        f"team_key: {canaries.var}\nkeys: [{canaries.var}, other]\n"
    )
    for d in ("home", "tmp"):
        (tmp_path / d).mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROVISION_", "MUX_", "XUM_")) and k != "NO_COLOR"
    }
    env.update(
        CANARY_TOKEN=canaries.env,
        HOME=str(tmp_path / "home"),
        TMPDIR=str(tmp_path / "tmp"),
        PYTHONPATH=str(ROOT),
        # The env canary as a provider key's fallback: a renderer may read it.
        GROQ_API_KEY=canaries.env,
        OPENAI_API_KEY=canaries.env,
    )
    yield tmp_path, canaries, env


# An unexpected exception whose message holds every canary, raised after the spec was resolved
# with its secrets read: the crash log and the message must still be redacted.
CRASH_SCRIPT = """\
import sys
import provision.api as api
real = api.load_spec
def boom(*args, **kwargs):
    spec = real(*args, **{**kwargs, "read_secrets": True}).spec
    dev = spec.deployments["dev"]
    keys = [p.api_key.reveal() for p in dev.providers.values() if p.api_key]
    raise RuntimeError("unexpected: " + " ".join(keys))
api.load_spec = boom
from provision.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run(tmp: Path, env: dict[str, str], args: Sequence[str]) -> Run:
    command = ["-c", CRASH_SCRIPT, *args[1:]] if args[0] == "crash" else ["-m", "provision", *args]
    proc = subprocess.run(
        [sys.executable, *command],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr)


def spec_args(name: str) -> list[str]:
    return ["-f", name, "-var-file", "team.vars.yaml"]


def workflow(commands: list[str]) -> tuple[list[list[str]], list[list[str]]]:
    """The successful workflow in order, split where the outputs exist: each step depends on
    the state the one before left."""
    g = spec_args("good")
    first = [["validate", *g], ["validate", "-json", *g]]
    if "plan" in commands:
        first += [["plan", *g, "-out", "plan.bin"], ["plan", "-json", *g]]
    if "show" in commands:
        first += [["show", "plan.bin"], ["show", "-json", "plan.bin"]]
    if "apply" in commands:
        # The spec's endpoints are closed ports: probing them is the probe command's job here.
        first += [["apply", "-auto-approve", "--no-probe", *g]]
    second = []
    if "plan" in commands and "apply" in commands:
        second += [
            ["plan", *g, "-out", "plan2.bin"],
            ["apply", "-input=false", "--no-probe", "-f", "good", "plan2.bin"],
            ["apply", "-json", "-auto-approve", "--no-probe", *g],
        ]
    if "show" in commands:
        second += [["show", "-json", "-f", "good"]]
    if "state" in commands:
        second += [["state", "show", "-f", "good", "mux_providers.inline"]]
    if "plan" in commands:
        second += [["plan", *g, "-detailed-exitcode"]]
    # Commands added after this test was written run with the spec, human and -json.
    second += [[c, *g] for c in commands if c not in KNOWN]
    second += [[c, "-json", *g] for c in commands if c not in KNOWN]
    if "destroy" in commands:
        second += [["destroy", "-auto-approve", *g]]
    return first, second


KNOWN = {
    "validate",
    "plan",
    "apply",
    "destroy",
    "show",
    "state",
    "force-unlock",
    "schema",
    "providers",
}


def failing_runs(commands: list[str]) -> list[list[str]]:
    """Runs that fail on the fields holding the canaries."""
    out: list[list[str]] = [
        ["schema"],
        ["providers"],
        ["providers", "-json"],
        ["validate", "-f", "good", "-var", "team_key"],
    ]
    for spec, cmds in (
        ("bad_fields", ["validate", "plan", "apply"]),
        ("bad_type", ["validate", "plan"]),
        ("misplaced", ["validate", "plan"]),
    ):
        for c in cmds:
            if c in commands:
                out += [[c, *spec_args(spec)], [c, "-json", *spec_args(spec)]]
    if "force-unlock" in commands:
        out.append(["force-unlock", "-f", "good", "no-such-lock"])
    out.append(["crash", "validate", *spec_args("good")])
    return out


def assert_clean(r: Run, canaries: Canaries) -> None:
    text = r.stdout + r.stderr
    for c in canaries.all:
        assert c not in text, f"canary in output of provision {' '.join(r.args)}"
    assert "Traceback" not in text, r.args


def test_canary_never_leaks(sandbox: tuple[Path, Canaries, dict[str, str]]) -> None:
    tmp, canaries, env = sandbox
    commands = cli_commands()
    assert {"validate", "schema", "providers"} <= set(commands)
    first, second = workflow(commands)
    with ThreadPoolExecutor(max_workers=3) as pool:
        failing = pool.map(lambda a: run(tmp, env, a), failing_runs(commands))
        runs = [run(tmp, env, args) for args in first]
        if "apply" in commands:
            assert runs[-1].code == 0, runs[-1].stderr
            check_outputs(tmp, canaries)
        runs += [run(tmp, env, args) for args in second]
        runs += list(failing)

    by_args = {r.args: r for r in runs}
    assert by_args[("validate", *spec_args("good"))].code == 0
    bad_type = by_args[("validate", *spec_args("bad_type"))]
    assert bad_type.code == 1 and "(sensitive value)" in bad_type.stderr
    for r in runs:
        assert_clean(r, canaries)
    crash = by_args[("crash", "validate", *spec_args("good"))]
    assert crash.code == 1
    assert "An unexpected error has occurred: RuntimeError" in crash.stderr
    logs = [p.read_text() for p in (tmp / "tmp").glob("provision-crash-*.log")]
    assert any("RuntimeError: unexpected: (sensitive value) (sensitive value)" in t for t in logs)

    allowed = {tmp / d / "key.txt" for d in ("good", "bad_fields", "bad_type", "misplaced")}
    allowed |= {tmp / "team.vars.yaml", tmp / "good" / "out" / "inline" / "providers.jsonc"}
    scanned = []
    for path in tmp.rglob("*"):
        if not path.is_file() or path in allowed:
            continue
        scanned.append(path.relative_to(tmp).as_posix())
        data = path.read_bytes()
        for c in canaries.all:
            assert c.encode() not in data, f"canary in {path.relative_to(tmp)}"
    if "plan" in commands:
        assert "plan.bin" in scanned
    if "apply" in commands:
        assert "good/.provision/state.json" in scanned


def check_outputs(tmp: Path, canaries: Canaries) -> None:
    """After apply: the canaries are inlined where the target says so, and only there."""
    inline = tmp / "good" / "out" / "inline" / "providers.jsonc"
    text = inline.read_text()
    assert canaries.var in text and canaries.file in text and canaries.env in text
    assert inline.stat().st_mode & 0o077 == 0
    for name in ("out/env.sh", "out/ai.tf", "out/env/providers.jsonc"):
        text = (tmp / "good" / name).read_text()
        assert not any(c in text for c in canaries.all), name
    assert re.search(r"\$\{?CANARY_TOKEN\}?", (tmp / "good" / "out" / "env.sh").read_text())
