"""`aftersales bench` runs from the installed package: no PYTHONPATH, no running platform."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_bench_intake_quick_writes_a_report_with_rates_and_ratios(tmp_path: Path) -> None:
    aftersales = Path(sys.executable).parent / "aftersales"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PERSISTENCE_MODULE")}
    reports = tmp_path / "reports"
    done = subprocess.run(
        [str(aftersales), "bench", "--scenario", "intake", "--quick", "--duration", "3",
         "--reports", str(reports)],
        cwd=tmp_path,  # not the repository: the bench must not need it on sys.path
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    markdown = Path(done.stdout.strip().splitlines()[-1])
    assert markdown.exists()
    assert markdown.parent == reports
    document = json.loads(markdown.with_suffix(".json").read_text())
    (intake,) = document["scenarios"]
    assert intake["available"], intake["summary"]
    assert all(row["rate"] > 0 for row in intake["data"]["intake"]), intake["data"]["intake"]
    assert all(row["rate"] > 0 for row in intake["data"]["raw"])
    assert all(row["rate"] > 0 for row in intake["data"]["crud"])
    ratios = {c["what"]: c["measured"] for c in intake["checks"]}
    assert ratios["intake peak / raw eventsourcing peak"] > 0
    assert ratios["intake peak / CRUD peak"] > 0
    assert "intake peak / raw eventsourcing peak" in markdown.read_text()
    assert document["meta"]["versions"]["eventsourcing"] == "9.5.6"
