"""Every file a target writes is its own: not provision's state or what lives beside it, not a
file another target writes (its extra files included), not a directory another target needs.

Each case runs the real CLI in a subprocess from the spec's directory and checks the exit code,
the `spec.yaml:LINE:COL: error:` line, and that nothing was written (no target file, no state)."""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_kit import CANARY_OPENAI, Run, proc_env, run_proc

from provision.api import own_files

HEAD = """\
version: 1
deployments:
  d:
    providers:
      groq: {api_key: {env: OPENAI_KEY}, probe: {enabled: false}}
      openai: {api_key: {env: OPENAI_KEY}, probe: {enabled: false}}
targets:
"""
PLAN = ("plan",)
APPLY = ("apply", "-auto-approve", "-no-probe")


def write_spec(root: Path, *targets: str) -> str:
    root.mkdir(exist_ok=True)
    text = HEAD + "".join(f"  {t}\n" for t in targets)
    (root / "spec.yaml").write_text(text)
    return text


def provision(root: Path, *args: str) -> Run:
    return run_proc(*args, cwd=root, env=proc_env(OPENAI_KEY=CANARY_OPENAI))


def at(text: str, line_part: str, value: str) -> str:
    """`spec.yaml:LINE:COL` of `value` on the line that holds `line_part`."""
    for n, line in enumerate(text.splitlines(), 1):
        if line_part in line:
            return f"spec.yaml:{n}:{line.index(value, line.index(line_part)) + 1}"
    raise AssertionError(f"{line_part!r} is not in the spec")


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def refused(root: Path, args: tuple[str, ...], error: str) -> None:
    run = provision(root, *args)
    assert run.code == 1, run.text
    assert error in run.err.splitlines(), run.err
    assert "Traceback" not in run.text
    assert "complete" not in run.out  # no "Creation complete", no "Apply complete!"
    assert files(root) == {"spec.yaml"}


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("state.json", "provision's state file"),
        ("state.json.backup", "provision's state backup"),
        ("state.lock", "provision's state lock"),
        ("fingerprint.key", "provision's fingerprint key"),
        ("health.jsonl", "provision's probe health history"),
        ("health.jsonl.lock", "provision's probe health history lock"),
        ("notes.txt", "inside provision's state directory {root}/.provision"),
    ],
)
def test_a_target_never_writes_provisions_own_files(tmp_path: Path, name: str, what: str) -> None:
    root = tmp_path / "spec"
    text = write_spec(root, f"a: {{type: shell_exports, deployment: d, path: .provision/{name}}}")
    where = at(text, "a:", ".provision")
    error = (f'{where}: error: Target "a" would write {root}/.provision/{name}, '
             f"{what.format(root=root)}")
    for args in (("validate",), PLAN, APPLY):
        refused(root, args, error)


def test_a_refused_target_leaves_the_state_as_it_was(tmp_path: Path) -> None:
    root = tmp_path / "spec"
    write_spec(root, "a: {type: shell_exports, deployment: d, path: out/env.sh}")
    assert provision(root, *APPLY).code == 0
    state = (root / ".provision" / "state.json").read_bytes()
    text = write_spec(root, "a: {type: shell_exports, deployment: d, path: .provision/state.json}")
    run = provision(root, *APPLY)
    assert run.code == 1
    assert (f'{at(text, "a:", ".provision")}: error: Target "a" would write '
            f"{root}/.provision/state.json, provision's state file") in run.err.splitlines()
    assert (root / ".provision" / "state.json").read_bytes() == state
    write_spec(root, "a: {type: shell_exports, deployment: d, path: out/env.sh}")
    again = provision(root, "plan", "-detailed-exitcode")
    assert again.code == 0, again.text


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("st/s.json", "state file"),
        ("st/s.json.backup", "state backup"),
        ("st/s.lock", "state lock"),
        ("st/fingerprint.key", "fingerprint key"),
        ("st/health.jsonl", "probe health history"),
    ],
)
def test_the_files_of_a_state_option_are_provisions_too(
    tmp_path: Path, path: str, what: str
) -> None:
    root = tmp_path / "spec"
    text = write_spec(root, f"a: {{type: shell_exports, deployment: d, path: {path}}}")
    error = (f'{at(text, "a:", path)}: error: Target "a" would write {root}/{path}, '
             f"provision's {what}")
    for args in (PLAN, APPLY):
        refused(root, (*args, "-state", "st/s.json"), error)
    # validate has no -state: it checks the default state's files, and st/ is the user's.
    assert provision(root, "validate").code == 0


def test_the_default_state_directory_stays_provisions_with_a_state_option(
    tmp_path: Path,
) -> None:
    root = tmp_path / "spec"
    text = write_spec(root, "a: {type: shell_exports, deployment: d, path: .provision/state.json}")
    error = (f'{at(text, "a:", ".provision")}: error: Target "a" would write '
             f"{root}/.provision/state.json, inside provision's state directory {root}/.provision")
    refused(root, (*APPLY, "-state", "elsewhere.json"), error)


def test_key_files_in_the_state_directory_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "spec"
    text = write_spec(root, "m: {type: mux_providers, deployment: d, path: out/providers.jsonc, "
                            "secrets: file, secrets_dir: .provision}")
    error = (f'{at(text, "m:", ".provision")}: error: Target "m" would write '
             f"{root}/.provision/groq.key, inside provision's state directory {root}/.provision")
    for args in (("validate",), PLAN, APPLY):
        refused(root, args, error)


def test_a_target_file_where_provision_needs_its_state_directory(tmp_path: Path) -> None:
    root = tmp_path / "spec"
    text = write_spec(root, "a: {type: shell_exports, deployment: d, path: .provision}")
    error = (f'{at(text, "a:", ".provision")}: error: Target "a" would write '
             f"{root}/.provision, provision's state directory {root}/.provision")
    refused(root, APPLY, error)


def test_a_key_file_another_target_writes(tmp_path: Path) -> None:
    root = tmp_path / "spec"
    text = write_spec(
        root,
        "a: {type: mux_providers, deployment: d, path: out/providers.jsonc, secrets: file}",
        "b: {type: shell_exports, deployment: d, path: out/keys/groq.key}",
    )
    error = (f'{at(text, "b:", "out/")}: error: Targets "a" and "b" both write '
             f"{root}/out/keys/groq.key")
    for args in (("validate",), PLAN, APPLY):
        refused(root, args, error)
    assert '"a" writes it as the key file of provider "groq", "b" as its file.' in provision(
        root, "validate").err


def test_a_declarations_file_another_target_writes(tmp_path: Path) -> None:
    root = tmp_path / "spec"
    text = write_spec(
        root,
        "a: {type: coder_agent_env, deployment: d, path: out/x.tf, style: env_block}",
        "b: {type: shell_exports, deployment: d, path: out/x.declarations.tf}",
    )
    error = (f'{at(text, "b:", "out/")}: error: Targets "a" and "b" both write '
             f"{root}/out/x.declarations.tf")
    for args in (("validate",), PLAN, APPLY):
        refused(root, args, error)


def test_a_target_file_where_another_target_needs_a_directory(tmp_path: Path) -> None:
    root = tmp_path / "spec"
    text = write_spec(
        root,
        "a: {type: shell_exports, deployment: d, path: out/keys}",
        "b: {type: mux_providers, deployment: d, path: out/providers.jsonc, secrets: file}",
    )
    error = (f'{at(text, "a:", "out/")}: error: Target "a" writes {root}/out/keys, a directory '
             'target "b" needs')
    for args in (("validate",), PLAN, APPLY):
        refused(root, args, error)


def test_own_files_names_every_file_provision_keeps_beside_the_state(tmp_path: Path) -> None:
    """Two applies (a backup), probes (the health history) and a saved plan (the fingerprint
    key) leave only files own_files names beside a -state outside any .provision directory."""
    root = tmp_path / "spec"
    write_spec(root, "a: {type: shell_exports, deployment: d, path: out/env.sh}")
    env = proc_env(OPENAI_KEY=CANARY_OPENAI)
    for key in (CANARY_OPENAI, "sk-another-key-0000"):
        env["OPENAI_KEY"] = key
        run = run_proc("apply", "-auto-approve", "-state", "st/s.json", cwd=root, env=env)
        assert run.code == 0, run.text
    assert run_proc("plan", "-state", "st/s.json", "-out", "p.plan", cwd=root, env=env).code == 0
    kept = {p for p in (root / "st").iterdir()}
    assert {"s.json", "s.json.backup", "fingerprint.key", "health.jsonl"} <= {p.name for p in kept}
    named = {p.resolve() for p, _ in own_files(root, root / "st" / "s.json").files}
    assert {p.resolve() for p in kept} <= named
