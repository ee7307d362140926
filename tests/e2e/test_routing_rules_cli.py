"""`aftersales routing rules load|show` against the platform as processes [issue 18]."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared import cli
from shared.cli import Platform
from tests.platform import brand_of_platform, complaint_body

RULES = {
    "version": "cli-1",
    "categories": [
        {"category": "loyalty_points", "keywords": ["積分"], "dimensions": ["reliability"]},
    ],
}


def test_rules_loaded_by_the_cli_classify_the_brands_next_complaint(
    platform: Platform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    brand = brand_of_platform(platform, "cli-rules")
    routing = ["--brand", "cli-rules", "--url", platform.url("routing")]
    document = tmp_path / "rules.json"
    document.write_text(json.dumps(RULES, ensure_ascii=False), encoding="utf-8")

    assert cli.main(["routing", "rules", "show", *routing]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "default"
    assert cli.main(["routing", "rules", "load", *routing, str(document)]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "cli-1"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**RULES, "version": "cli-2", "categories": []}), encoding="utf-8")
    assert cli.main(["routing", "rules", "load", *routing, str(bad)]) == 1
    assert "422" in capsys.readouterr().err

    with httpx.Client(base_url=platform.url("intake"), headers=brand, timeout=10) as client:
        posted = client.post("/v1/complaints", json=complaint_body(description="积分没有到账"))
        assert posted.status_code == 201, posted.text
        path = f"/v1/complaints/{posted.json()['complaint_id']}/history"

        found: dict[str, Any] | None = None
        deadline = time.monotonic() + 10
        while found is None and time.monotonic() < deadline:
            events = client.get(path).json()["events"]
            found = next((e for e in events if e["type"] == "ComplaintClassified"), None)
            time.sleep(0.05)
    assert found is not None, "ComplaintClassified within 10 s"
    assert found["payload"]["rules_version"] == "cli-1"
    assert found["payload"]["category"] == "loyalty_points"
