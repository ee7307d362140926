"""The benchmark's report math: percentiles, ratios, PASS/MISS, and the files written."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench.report import (
    Check,
    ScenarioResult,
    Table,
    percentile,
    percentiles_ms,
    ratio,
    render_markdown,
    write_report,
)


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0


def test_percentile_does_not_depend_on_order(seed: int) -> None:
    values = [random.Random(seed).uniform(0, 1) for _ in range(1001)]
    shuffled = values[:]
    random.Random(seed + 1).shuffle(shuffled)
    assert percentile(shuffled, 95) == percentile(values, 95)
    assert percentile(values, 50) == sorted(values)[500]


def test_percentiles_ms_converts_seconds_and_counts() -> None:
    found = percentiles_ms([0.010, 0.020, 0.030, 0.040, 1.0])
    assert found == {"p50": 30.0, "p95": 808.0, "p99": 961.6, "n": 5}  # 40 + 0.8 × 960 …


def test_ratio_without_a_baseline_is_none() -> None:
    assert ratio(50.0, 200.0) == 0.25
    assert ratio(50.0, 0.0) is None


def test_pass_and_miss_say_by_how_much() -> None:
    assert Check("intake", "vs raw", 0.6, 0.5).verdict() == "PASS"
    assert Check("intake", "vs raw", 0.5, 0.5).passed  # the target itself passes
    assert Check("intake", "vs raw", 0.1, 0.5).verdict() == "MISS by 80% (needs 5.0×)"
    assert Check("e2e", "rate", 0.0, 200.0).verdict() == "MISS (none)"
    assert Check("e2e", "rate", None, 200.0).verdict() == "MISS (not measured)"
    growth = Check("soak", "rss", 12.0, 10.0, unit="%", higher_is_better=False)
    assert not growth.passed
    assert growth.verdict() == "MISS by 20% over"
    assert Check("soak", "rss", 9.9, 10.0, unit="%", higher_is_better=False).passed
    assert growth.target_text() == "< 10.0%"


def _meta() -> dict[str, object]:
    return {
        "started_at": "2026-11-25 07:00 UTC",
        "store": "sqlite",
        "machine": {"cores": 2, "cpu": "AMD", "ram_gib": 8.0, "os": "Linux",
                    "loadavg_at_start": [0.1, 0.2, 0.3]},
        "versions": {"python": "3.11.7", "eventsourcing": "9.5.6"},
        "git": {"commit": "0123456789abcdef", "dirty": True, "branch": "f/bench"},
        "args": "bench --quick",
        "settings": "SQLite WAL",
    }  # fmt: skip


def test_markdown_has_the_targets_table_and_each_scenario() -> None:
    intake = ScenarioResult("intake", summary="peaks at 50/s")
    intake.checks.append(Check("intake", "intake / raw", 0.1, 0.5, baseline=500.0))
    intake.tables.append(Table("sweep", ["c", "rate"], [[1, 10.0], [32, 50.0]]))
    bulk = ScenarioResult("bulk", available=False, summary="not available: 404")
    text = render_markdown(_meta(), [intake, bulk])
    assert "| intake | intake / raw | 0.10× | 500 | ≥ 0.50× | MISS by 80% (needs 5.0×) |" in text
    assert "| bulk | not available | – | – | – | not available: 404 |" in text
    assert "`0123456789ab` (dirty) on f/bench" in text
    assert "| 32 | 50.0 |" in text


def test_write_report_writes_markdown_json_and_latest(tmp_path: Path) -> None:
    result = ScenarioResult("intake")
    result.checks.append(Check("intake", "intake / CRUD", 1.2, 1.0, baseline=40.0))
    path = write_report(_meta(), [result], tmp_path)
    assert path.parent == tmp_path
    assert path.name.startswith("sqlite-")
    assert path.suffix == ".md"
    document = json.loads(path.with_suffix(".json").read_text())
    check = document["scenarios"][0]["checks"][0]
    assert check["passed"] is True
    assert check["verdict"] == "PASS"
    assert check["measured"] == 1.2
    assert (tmp_path / "latest-sqlite.md").read_text() == path.read_text()
