"""schemathesis (`--checks all`) against every service's OpenAPI: zero failures, zero 5xx.

Each service is fuzzed by the `st run` CLI in a subprocess (the stable, documented entry
point): examples, coverage, fuzzing and stateful phases, seeded with the session's seed,
a bounded number of examples per operation. Brand routes carry the seeded brand's API key,
ops and admin routes an ops token (per security scheme), regulator routes are signed by a
hook (tests/fuzz/hooks.py), and OpenAPI links carry created complaints and webhooks into
their follow-up operations. The run's JSON report is parsed: the test fails on any failure
or error, and prints the figures (operations, cases, runtime) at the end of the session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from shared.settings import SERVICES
from tests.fuzz.conftest import BRAND, FuzzPlatform
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
ST = Path(sys.executable).parent / "st"
# Cases per operation and phase; AFTERSALES_FUZZ_EXAMPLES overrides (e.g. for a long run),
# AFTERSALES_FUZZ_REPORTS adds report formats (e.g. `json,har` to see every exchange).
MAX_EXAMPLES = int(os.environ.get("AFTERSALES_FUZZ_EXAMPLES", "25"))
RUN_TIMEOUT_S = 420
# schemathesis' defaults for a refused invalid request, and 413.
NEGATIVE_STATUSES = [
    *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"),
    "5xx",
]


def _toml(value: Any) -> str:
    """A TOML value (JSON's string, number and array spellings are TOML's too)."""
    return json.dumps(value, ensure_ascii=False)


def write_config(path: Path, fuzz: FuzzPlatform, service: str) -> Path:
    """schemathesis.toml for this run: hooks, auth per security scheme, known ids."""
    lines = ['hooks = "tests.fuzz.hooks"', ""]
    if service == "intake":  # the only service with brand (API key) routes
        lines += ["[auth.openapi.APIKeyHeader]", f"api_key = {_toml(fuzz.api_key)}", ""]
    lines += [
        "[auth.openapi.HTTPBearer]",
        f"bearer = {_toml(fuzz.token)}",
        "",
        # 413 refuses too: a batch over its 5000 items (`maxItems`) is too large, by contract.
        "[checks.negative_data_rejection]",
        f"expected-statuses = {_toml(NEGATIVE_STATUSES)}",
        "",
        # Half of the generated complaint ids are ones every service knows (and half of the
        # contact sources ones intake knows): they answer 200 and are checked against the
        # response schema; the rest find 404.
        "[parameters]",
        '"path.complaint_id" = { dictionary = "complaints", probability = 0.5 }',
        "",
        '"path.subject_ref" = { dictionary = "sources", probability = 0.5 }',
        "",
        "[dictionaries.complaints]",
        f"values = {_toml(fuzz.complaint_ids)}",
        "",
        "[dictionaries.sources]",
        f"values = {_toml(fuzz.subject_refs)}",
        "",
    ]
    path.write_text("\n".join(lines))
    return path


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
@pytest.mark.parametrize("service", SERVICES)
def test_schemathesis_finds_no_failure(
    service: str,
    fuzz_platform: FuzzPlatform,
    seed: int,
    tmp_path: Path,
    fuzz_figures: list[str],
) -> None:
    config = write_config(tmp_path / "schemathesis.toml", fuzz_platform, service)
    report_dir = tmp_path / "report"
    argv = [
        str(ST),
        "--config-file", str(config),
        "run", f"{fuzz_platform.url(service)}/openapi.json",
        "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(seed),
        "--report", os.environ.get("AFTERSALES_FUZZ_REPORTS", "json"),
        "--report-dir", str(report_dir),
        "--request-timeout", "30",
        "--no-shrink",
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FUZZ_REGULATOR_ID": fuzz_platform.regulator_id,
        "FUZZ_REGULATOR_SECRET": fuzz_platform.regulator_secret,
        "FUZZ_BRAND": BRAND,
        "FUZZ_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/fuzz-webhook",
        "NO_COLOR": "1",
        "SCHEMATHESIS_TELEMETRY": "false",
    }
    print(f"schemathesis seed {seed} ({service}): reproduce with AFTERSALES_TEST_SEED={seed}")
    started = time.monotonic()
    run = subprocess.run(
        argv,
        cwd=tmp_path,  # schemathesis keeps a cache in its working directory
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    seconds = time.monotonic() - started
    output = run.stdout + run.stderr
    reports = sorted(report_dir.glob("*.json"))
    assert reports, f"schemathesis wrote no report (exit {run.returncode}):\n{output[-6000:]}"
    report = json.loads(reports[-1].read_text())
    operations, cases = report["operations"], report["test_cases"]
    fuzz_figures.append(
        f"{service:<13} operations {operations['tested']}/{operations['total']}, "
        f"cases {cases['generated']}, failures {len(report['failures'])} "
        f"({sum(f['count'] for f in report['failures'])} unique), "
        f"errors {len(report['errors'])}, {seconds:.0f} s, seed {report['seed']}"
    )
    log = tmp_path / "schemathesis.log"
    log.write_text(output)
    print(_failure_lines(output))
    found = [
        f"{f['code']} {f['title']} ({f['count']}): {', '.join(f['operations'])}"
        for f in report["failures"]
    ]
    where = f"(the whole output: {log})"
    assert operations["tested"] == operations["total"] > 0, where
    assert cases["generated"] > 0, where
    assert not found, "\n".join([*found, where])
    assert not report["errors"], f"{report['errors']} {where}"
    assert run.returncode == 0, output[-3000:]


def _failure_lines(output: str) -> str:
    """The failures section of the output, each line cut short (bodies can be huge)."""
    section = output.partition("FAILURES")[2].partition("WARNINGS")[0]
    return "\n".join(line[:300] for line in section.splitlines() if line.strip())
