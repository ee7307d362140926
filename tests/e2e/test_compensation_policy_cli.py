"""`aftersales compensation policy load|show` against the platform as processes [issue 19]."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import cli
from shared.cli import Platform
from tests.integration.test_remedy_policy import acme


def test_policy_loaded_by_the_cli_is_read_back_and_a_stingy_one_is_refused(
    platform: Platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    compensation = ["--brand", "acme", "--url", platform.url("compensation")]
    document = tmp_path / "policy.json"
    document.write_text(json.dumps(acme("cli-1"), ensure_ascii=False), encoding="utf-8")

    assert cli.main(["compensation", "policy", "show", *compensation]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "default"
    assert cli.main(["compensation", "policy", "load", *compensation, str(document)]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "cli-1"
    assert cli.main(["compensation", "policy", "show", *compensation]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["source"], shown["version"]) == ("brand", "cli-1")
    assert shown["document"]["apology"]["brand_name_zh"] == "艾克美"

    stingy = tmp_path / "stingy.json"
    stingy.write_text(json.dumps(acme("cli-2", distance_return_days=1)), encoding="utf-8")
    assert cli.main(["compensation", "policy", "load", *compensation, str(stingy)]) == 1
    err = capsys.readouterr().err
    assert "422" in err
    assert "distance_return_days" in err
    reused = tmp_path / "reused.json"
    reused.write_text(json.dumps(acme("cli-1", distance_return_days=9)), encoding="utf-8")
    assert cli.main(["compensation", "policy", "load", *compensation, str(reused)]) == 1
    assert "409" in capsys.readouterr().err
    missing = tmp_path / "missing.json"
    assert cli.main(["compensation", "policy", "load", *compensation, str(missing)]) == 2
