"""End-to-end fixtures: nats-server and the four services as real processes (uvicorn)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.cli import Platform
from tests.platform import TEST_SECRETS
from tests.servers import NatsServer, free_port


@pytest.fixture
def platform(
    tmp_path: Path,
    nats_server_e2e: NatsServer,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Platform]:
    """The four services on free ports, SQLite under tmp_path, one NATS server."""
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.sqlite")
    ports = {name: free_port() for name in ("intake", "routing", "compensation", "followup")}
    running = Platform(
        tmp_path / "data", nats_server_e2e.port, ports, nats_server_e2e.credentials
    )
    running.start(start_nats=False)
    yield running
    running.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for log in (tmp_path / "data" / "logs").glob("*.log"):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture
def nats_server_e2e(fresh_nats_server: NatsServer) -> NatsServer:
    return fresh_nats_server


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


os.environ.setdefault("AFTERSALES_ENVIRONMENT", "test")
for _name, _secret in TEST_SECRETS.items():  # `test` refuses the development secrets
    os.environ.setdefault(f"AFTERSALES_{_name.upper()}", _secret)
# Crash tests are load from one API key: rate limits off (tests/integration/test_rate_limits.py).
for _limit in ("API_KEY", "REGULATOR", "OPS"):
    os.environ.setdefault(f"AFTERSALES_RATE_LIMIT_{_limit}_PER_S", "0")


# ------------------------------------------------------ crash-test figures, summarised

_CRASH_FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def crash_figures(pytestconfig: pytest.Config) -> list[str]:
    """Lines a crash test appends; printed together at the end of the session."""
    return pytestconfig.stash.setdefault(_CRASH_FIGURES, [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    figures = config.stash.get(_CRASH_FIGURES, [])
    if figures:
        terminalreporter.section("crash tests: complaints, kills, lost, duplicated")
        for line in figures:
            terminalreporter.write_line(line)
