"""Integration fixtures: every store-backed test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.platform import TEST_SECRETS, RunningService, start_service


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store kind under test; PostgreSQL gets a fresh database per test."""
    for name in ("PERSISTENCE_MODULE", "POSTGRES_DBNAME", "POSTGRES_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "postgres":
        server = request.getfixturevalue("postgres_server")
        dbname = request.getfixturevalue("postgres_dbname")
        for key, value in server.eventsourcing_env(dbname).items():
            monkeypatch.setenv(key, value)
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, nats_url: str, store: str) -> Settings:
    return Settings(
        environment="test",
        nats_url=nats_url,
        data_dir=tmp_path / "data",
        trace_file=tmp_path / "traces.jsonl",
        max_deliveries=3,
        **TEST_SECRETS,
        # Tests send bursts with one key; test_rate_limits.py turns the limits on.
        rate_limit_api_key_per_s=0,
        rate_limit_regulator_per_s=0,
        rate_limit_ops_per_s=0,
    )


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Callable[[str], Awaitable[RunningService]]]:
    """Start services by name; all are drained and stopped after the test."""
    started: list[RunningService] = []

    async def start(name: str) -> RunningService:
        running = await start_service(name, settings)
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        await running.stop()
