"""`aftersales import-transfers` against a running intake: signed batches, resumable, refusals
reported by line number [DOMAIN.md: 消协/12315 转办 in bulk]."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from shared.cli import Platform
from tests.platform import env_admin_headers


def _transfer(n: int, brand_id: str = "bulk-cli", phone: str | None = None) -> dict[str, Any]:
    return {
        "transfer_number": f"CLI-{n:04d}",
        "deadline_working_days": 7,
        "brand_id": brand_id,
        "complaint": {
            "consumer": {"name": "张女士", "phone": phone or f"1370000{n:04d}"},
            "product": {"category": "预付卡 prepaid card"},
            "order": {"price_fen": 100000, "merchant": f"浴场{n % 3}"},
            "description": "会所更名后原充值消费卡不能继续使用。",
            "demands": [{"kind": "refund"}],
        },
    }


def _import(platform: Platform, file: Path, secret_file: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "shared.cli", "import-transfers", str(file)]
    argv += ["--regulator-id", "sh-12315", "--secret-file", str(secret_file)]
    argv += ["--url", platform.url("intake"), "--batch", "7"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_the_cli_imports_a_file_reports_bad_lines_and_a_rerun_creates_nothing_new(
    platform: Platform, tmp_path: Path
) -> None:
    base = platform.url("intake")
    brand = httpx.post(
        f"{base}/v1/admin/brands",
        headers=env_admin_headers(),
        json={"brand_id": "bulk-cli", "name": "B"},
    )
    assert brand.status_code == 201, brand.text
    regulator = httpx.post(
        f"{base}/v1/admin/regulators",
        headers=env_admin_headers(),
        json={"regulator_id": "sh-12315", "name": "12315 上海", "kind": "market_regulator"},
    )
    assert regulator.status_code == 201, regulator.text
    secret_file = tmp_path / "secret"
    secret_file.write_text(regulator.json()["secret"] + "\n")
    lines = [json.dumps(_transfer(n), ensure_ascii=False) for n in range(20)]
    lines.insert(4, "{not json")  # line 5
    lines.insert(9, json.dumps(_transfer(90, phone="12")))  # line 10: not a phone number
    lines.insert(14, json.dumps(_transfer(91, brand_id="nobody")))  # line 15: unknown brand
    mixed = tmp_path / "transfers.ndjson"
    mixed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    valid = tmp_path / "valid.ndjson"
    valid.write_text("\n".join(json.dumps(_transfer(n)) for n in range(20)) + "\n")

    first = _import(platform, mixed, secret_file)
    again = _import(platform, mixed, secret_file)
    clean = _import(platform, valid, secret_file)

    assert first.returncode == 1, first.stderr
    assert "done: sent 22  created 20  existing 0  refused 3" in first.stderr
    assert "line 5: not JSON" in first.stderr
    assert "line 10: transfer CLI-0090 refused (422): complaint.consumer.phone" in first.stderr
    assert "line 15: transfer CLI-0091 refused (422): brand_id:" in first.stderr
    assert "done: sent 22  created 0  existing 20  refused 3" in again.stderr
    assert clean.returncode == 0, clean.stderr
    assert "done: sent 20  created 0  existing 20  refused 0" in clean.stderr
    listed = httpx.get(
        f"{base}/v1/complaints?limit=100", headers={"X-Api-Key": brand.json()["api_key"]}
    )
    assert len(listed.json()["items"]) == 20
