"""Shared pytest configuration for aftersales.

Sections:
  1. Random seed      — printed in the header; reproduce with AFTERSALES_TEST_SEED=<n>.
  2. Real servers     — nats-server (JetStream) and PostgreSQL, from tests/servers.py.
  (Application fixtures go below, in their own section.)
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest

from tests.servers import NatsServer, PostgresServer, ServerUnavailable

# ============================================================== 1. Random seed ====

_SEED_KEY = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    raw = os.environ.get("AFTERSALES_TEST_SEED", "").strip()
    seed = int(raw) if raw else time.time_ns() % 2**32
    config.stash[_SEED_KEY] = seed
    random.seed(seed)


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.stash[_SEED_KEY]
    return f"aftersales random seed: {seed} (reproduce with AFTERSALES_TEST_SEED={seed})"


@pytest.fixture(scope="session")
def seed(pytestconfig: pytest.Config) -> int:
    """The session's random seed (already passed to random.seed at configure time)."""
    return pytestconfig.stash[_SEED_KEY]


# ============================================================= 2. Real servers ====
# Missing server software -> skip locally, but FAIL when CI=true: CI must never go
# green by testing nothing.


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _unavailable(reason: str) -> NoReturn:
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: not skipping)", pytrace=False)
    pytest.skip(reason)


def _new_nats_server(**options: Any) -> NatsServer:
    try:
        return NatsServer(**options)
    except ServerUnavailable as error:
        _unavailable(str(error))


def _new_postgres_server(**options: Any) -> PostgresServer:
    try:
        return PostgresServer(**options)
    except ServerUnavailable as error:
        _unavailable(str(error))


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    """One JetStream server for the whole session. Tests share its state: use unique
    stream/subject names, and never kill it (use ``fresh_nats_server`` for that)."""
    with _new_nats_server() as server:
        yield server


@pytest.fixture
def fresh_nats_server() -> Iterator[NatsServer]:
    """A JetStream server of this test's own: empty state, free to kill/restart.

    Choice: a new nats-server process per test rather than deleting streams/KV/
    consumers on a shared one. Measured here: start (until a JetStream INFO is read)
    8-25 ms, stop ~1 ms — cheaper and more complete than cleaning up, and crash tests
    get to kill -9 it.
    """
    with _new_nats_server() as server:
        yield server


@pytest.fixture
def nats_url(fresh_nats_server: NatsServer) -> str:
    """URL of a fresh, empty JetStream server for this test."""
    return fresh_nats_server.url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster (trust auth, user postgres) for the session.
    initdb + start measured at ~0.7 s."""
    with _new_postgres_server() as server:
        yield server


@pytest.fixture
def postgres_dbname(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for this test (dropped, WITH (FORCE), afterwards)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    postgres_server.create_database(name)
    yield name
    postgres_server.drop_database(name)


@pytest.fixture
def make_nats_server() -> Iterator[Callable[..., NatsServer]]:
    """Factory for extra NatsServer objects (NOT started; kwargs as NatsServer).
    Same skip/fail rule; every server made is closed after the test."""
    made: list[NatsServer] = []

    def make(**options: Any) -> NatsServer:
        made.append(_new_nats_server(**options))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture
def make_postgres_server() -> Iterator[Callable[..., PostgresServer]]:
    """Factory for extra PostgresServer objects (NOT started; kwargs as PostgresServer).
    Same skip/fail rule; every server made is closed after the test."""
    made: list[PostgresServer] = []

    def make(**options: Any) -> PostgresServer:
        made.append(_new_postgres_server(**options))
        return made[-1]

    yield make
    for server in made:
        server.close()


# ====================================================== (application fixtures) ====
