"""A breach fires exactly once across kill -9 of routing (issue 18, "Done when").

The platform runs as processes; the brand's policy gives a clock a few seconds. Routing is
killed (SIGKILL) after the clock started and before it is due, stays down past the due time,
and restarts: the breach fires after the restart (nothing lost). Then routing is killed again
right after the breach was published and restarted: it does not fire again (nothing doubled).
The verdict reads the ROUTING stream itself, and the stores replay exactly.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.cli import Platform
from tests.e2e.chaos import assert_replays_exactly, brand_headers, read_streams
from tests.platform import complaint_body, env_admin_headers

DUE_AFTER_S = 4
POLICY: dict[str, Any] = {
    "version": "restart-1",
    "clauses": [
        {
            "name": "onsite_repair",
            "sources": ["web"],
            "within": {"seconds": DUE_AFTER_S},
            "met_by": ["RemedyFulfilled"],  # never arrives here: the clock must breach
            "source_doc": "000 海尔: 24小时上门维修 (seconds here)",
        }
    ],
    "escalation": {"levels": ["supervisor"]},
}


@pytest.fixture(autouse=True)
def fast_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_SLA_TICK_S", "0.2")


def _cli(platform: Platform, *args: str) -> Any:
    """`aftersales routing sla ...` against the platform's routing, as an operator runs it."""
    url = platform.url("routing")
    command = ["routing", "sla", *args, "--brand", "restart-brand", "--url", url]
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _types(platform: Platform, complaint_id: str) -> dict[str, int]:
    counts = asyncio.run(read_streams(platform.admin_url))
    return dict(counts.per_complaint[("ROUTING", complaint_id)])


def _until(platform: Platform, complaint_id: str, event_type: str, wait: float) -> dict[str, Any]:
    end = time.monotonic() + wait
    while True:
        types = _types(platform, complaint_id)
        if types.get(event_type):
            return types
        assert time.monotonic() < end, f"no {event_type} after {wait} s: {types}"
        time.sleep(0.1)


@pytest.mark.timeout(180)
def test_a_breach_fires_exactly_once_across_routing_kill_9(
    platform: Platform, tmp_path: Path
) -> None:
    brand = brand_headers(platform, "restart-brand")
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY, ensure_ascii=False), encoding="utf-8")
    loaded = _cli(platform, "load", str(policy_file))
    assert loaded["source"] == "brand", loaded
    assert _cli(platform, "show")["policy"]["version"] == "restart-1"
    posted = httpx.post(
        f"{platform.url('intake')}/v1/complaints", json=complaint_body(), headers=brand, timeout=10
    )
    assert posted.status_code == 201, posted.text
    complaint_id = posted.json()["complaint_id"]

    _until(platform, complaint_id, "SlaStarted[onsite_repair]", 30)
    platform.kill("routing")  # after the clock started, before it is due
    time.sleep(DUE_AFTER_S + 1)  # down past the due time: nothing can fire
    assert "SlaBreached[onsite_repair]" not in _types(platform, complaint_id)
    platform.start_service("routing")
    platform.wait_ready("routing")
    after_restart = _until(platform, complaint_id, "SlaBreached[onsite_repair]", 30)
    assert after_restart["SlaBreached[onsite_repair]"] == 1

    platform.kill("routing")  # right after the breach: its tick is recorded with it
    platform.start_service("routing")
    platform.wait_ready("routing")
    time.sleep(2.0)  # ten scheduler periods
    final = _types(platform, complaint_id)
    assert final["SlaStarted[onsite_repair]"] == 1
    assert final["SlaBreached[onsite_repair]"] == 1
    assert final["Escalated[onsite_repair]"] == 1
    counts = asyncio.run(read_streams(platform.admin_url))
    assert counts.duplicate_event_ids() == {}
    view = httpx.get(
        f"{platform.url('routing')}/v1/ops/cases/{complaint_id}/sla",
        headers=env_admin_headers(),
        timeout=10,
    ).json()
    assert [c["status"] for c in view["clocks"]] == ["breached"]
    assert view["escalation_level"] == "supervisor"
    assert datetime.fromisoformat(view["clocks"][0]["due_at"])
    platform.stop()
    assert_replays_exactly(platform)
