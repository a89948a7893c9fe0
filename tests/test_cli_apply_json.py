"""`apply -json`: the people's text is replaced by one JSON document — plan, probes, applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provision.cli import main
from provision.probe.bridgesim import BridgeSim

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "gitops-aibridge" / "spec"
TOKEN = "tok-apply-json-0123456789"


def test_apply_json_reports_probes_and_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODER_SESSION_TOKEN", TOKEN)
    with BridgeSim(TOKEN) as sim:
        url = sim.url
        args = [
            "apply",
            "-json",
            "-auto-approve",
            "-f",
            str(SPEC),
            "-var",
            f"prod_coder_url={url}",
            "-var",
            f"staging_coder_url={url}",
            "-var",
            f"out_dir={tmp_path / 'out'}",
            "-state",
            str(tmp_path / "s.json"),
        ]
        assert main(args) == 0
        first = json.loads(capsys.readouterr().out)
        assert main(args) == 0
        second = json.loads(capsys.readouterr().out)
    assert first["format_version"] == "1.0"
    assert {p["outcome"] for p in first["probes"]} == {"ok"}
    applied = {a["address"]: a["action"] for a in first["applied"]}
    assert applied["mux_providers.prod_mux"] == "create"
    assert first["summary"] == {"added": len(applied), "changed": 0, "destroyed": 0}
    assert all(Path(a["path"]).is_file() for a in first["applied"])
    assert second["applied"] == [] and second["plan"]["changes_present"] is False
    assert TOKEN not in json.dumps(first) + json.dumps(second)
