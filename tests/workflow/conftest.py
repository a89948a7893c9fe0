"""Fixtures of the workflow tests: the canary secrets in the environment, HOME and Mux's root
inside the test's directory, the in-process CLI (every output checked for canaries at the end)
and bridge-sim on 127.0.0.1 with the canary as its token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import json5
import pytest
from workflow_kit import (
    CANARY_ANTHROPIC,
    CANARY_OPENAI,
    CANARY_TOKEN,
    Cli,
    assert_no_canary,
)

from provision.probe.bridgesim import BridgeSim


@pytest.fixture(autouse=True)
def secrets_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XUM_ROOT", raising=False)
    monkeypatch.delenv("MUX_ROOT", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("OPENAI_KEY", CANARY_OPENAI)
    monkeypatch.setenv("ANTHROPIC_KEY", CANARY_ANTHROPIC)
    monkeypatch.setenv("CODER_SESSION_TOKEN", CANARY_TOKEN)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    runner = Cli(capsys)
    yield runner
    for i, run in enumerate(runner.runs):
        assert_no_canary(run.text, f"the output of run {i + 1}")
        assert "An unexpected error has occurred" not in run.text, run.text  # a crash


@pytest.fixture
def bridge_sim() -> Iterator[Callable[..., BridgeSim]]:
    """Start a bridge-sim (keyword options as BridgeSim's); stopped at the end of the test."""
    started: list[BridgeSim] = []

    def start(token: str = CANARY_TOKEN, **options: Any) -> BridgeSim:
        sim = BridgeSim(token, **options)
        started.append(sim)
        sim.start()
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def sim_url(bridge_sim: Callable[..., BridgeSim]) -> str:
    return bridge_sim().url


@pytest.fixture
def mux_parse(request: pytest.FixtureRequest) -> Callable[[str], Any]:
    """Parse providers.jsonc as Mux does (npm jsonc-parser) where it is installed, else json5."""
    try:
        parse: Callable[[str], Any] = request.getfixturevalue("jsonc_parse")
    except pytest.skip.Exception:
        parse = json5.loads
    return parse
