"""The test servers from tests/servers.py work for real (NATS JetStream, PostgreSQL)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import nats
import psycopg
import pytest
from eventsourcing import persistence as es_persistence
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from nats.aio.client import Client as NATS
from nats.js.api import StorageType

from tests.servers import LOOPBACK, NatsServer, PostgresServer, ServerError

# ------------------------------------------------------------------------- NATS ----


@asynccontextmanager
async def connected(url: str, **options: Any) -> AsyncIterator[NATS]:
    nc = await nats.connect(url, connect_timeout=2, **options)
    try:
        yield nc
    finally:
        await nc.close()


async def test_jetstream_publish_ack_and_stream_info(nats_server: NatsServer) -> None:
    stream = f"S_{uuid.uuid4().hex[:8]}"
    subject = f"{stream.lower()}.events"
    async with connected(nats_server.url) as nc:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{subject}.>"], storage=StorageType.FILE)
        acks = [await js.publish(f"{subject}.{i}", f"m{i}".encode()) for i in range(5)]
        assert [ack.seq for ack in acks] == [1, 2, 3, 4, 5]
        assert {ack.stream for ack in acks} == {stream}

        info = await js.stream_info(stream)
        assert info.state.messages == 5
        assert info.config.storage == StorageType.FILE

        sub = await js.pull_subscribe(f"{subject}.>", durable="reader", stream=stream)
        msgs = await sub.fetch(5, timeout=2)
        assert [m.data for m in msgs] == [f"m{i}".encode() for i in range(5)]
        for m in msgs:
            await m.ack_sync()
        with pytest.raises(asyncio.TimeoutError):  # nothing left: fetch times out
            await sub.fetch(1, timeout=0.1)
        await js.delete_stream(stream)


async def test_nats_url_is_a_fresh_empty_server(nats_url: str, nats_server: NatsServer) -> None:
    assert nats_url != nats_server.url
    async with connected(nats_url) as nc:
        info = await nc.jetstream().account_info()
        assert info.streams == 0


async def test_kill_9_then_restart_keeps_file_stream(fresh_nats_server: NatsServer) -> None:
    server = fresh_nats_server
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    async def quiet(*_: object) -> None:  # silence nats-py's default error printing
        return None

    async with connected(
        server.url,
        reconnect_time_wait=0.05,
        max_reconnect_attempts=-1,
        reconnected_cb=on_reconnect,
        disconnected_cb=quiet,
        error_cb=quiet,
    ) as nc:
        js = nc.jetstream()
        await js.add_stream(name="CRASH", subjects=["crash.>"], storage=StorageType.FILE)
        for i in range(100):
            await js.publish(f"crash.{i % 3}", f"payload-{i}".encode())

        server.kill()  # SIGKILL right after the last ack
        assert not server.running
        port, store = server.port, server.store_dir
        server.restart()
        assert (server.port, server.store_dir) == (port, store)

        await asyncio.wait_for(reconnected.wait(), timeout=10)
        info = await js.stream_info("CRASH")
        assert info.state.messages == 100
        assert info.state.last_seq == 100
        last = await js.get_msg("CRASH", seq=100)
        assert last.data == b"payload-99"
        ack = await js.publish("crash.0", b"after-restart")
        assert ack.seq == 101


def test_nats_server_fails_clearly_on_port_clash(
    make_nats_server: Callable[..., NatsServer],
) -> None:
    with socket.socket() as blocker:
        blocker.bind((LOOPBACK, 0))
        blocker.listen()  # it accepts, but sends no JetStream INFO: not mistaken for ours
        server = make_nats_server(port=blocker.getsockname()[1], start_timeout=5)
        with pytest.raises(ServerError, match="in use"):
            server.start()
    assert not server.running


# --------------------------------------------------------------------- Postgres ----


def test_postgres_create_insert_select(postgres_dbname: str, postgres_server: PostgresServer):
    with psycopg.connect(postgres_server.conninfo(postgres_dbname)) as conn:
        conn.execute("CREATE TABLE complaint (id serial PRIMARY KEY, title text NOT NULL)")
        conn.execute("INSERT INTO complaint (title) VALUES (%s), (%s)", ("刹车异响", "gearbox"))
        rows = conn.execute("SELECT id, title FROM complaint ORDER BY id").fetchall()
        assert rows == [(1, "刹车异响"), (2, "gearbox")]
        (encoding,) = conn.execute("SHOW server_encoding").fetchone() or (None,)
        assert encoding == "UTF8"
        (listen,) = conn.execute("SHOW listen_addresses").fetchone() or (None,)
        assert listen == LOOPBACK
        (fsync,) = conn.execute("SHOW fsync").fetchone() or (None,)
        assert fsync == "off"


def test_postgres_databases_are_fresh(postgres_server: PostgresServer, postgres_dbname: str):
    with psycopg.connect(postgres_server.conninfo(postgres_dbname)) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)


class Widget(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name

    @event("Renamed")
    def rename(self, name: str) -> None:
        self.name = name


def test_eventsourcing_postgres_save_and_reload(
    postgres_server: PostgresServer, postgres_dbname: str
) -> None:
    schema = "widgets"
    env = postgres_server.eventsourcing_env(postgres_dbname, schema=schema)
    assert env["POSTGRES_PASSWORD"] == ""  # present but empty: fine with trust auth
    postgres_server.create_schema(postgres_dbname, schema)  # eventsourcing won't

    writer = Application(env=env)
    try:
        widget = Widget("离合器")
        widget.rename("clutch")
        writer.save(widget)
    finally:
        writer.close()

    reader = Application(env=env)  # new pool: proves it came from the database
    try:
        loaded = reader.repository.get(widget.id)
        assert isinstance(loaded, Widget)
        assert (loaded.name, loaded.version) == ("clutch", 2)
        with pytest.raises(AggregateNotFoundError):
            reader.repository.get(uuid.uuid4())
    finally:
        reader.close()

    with psycopg.connect(postgres_server.conninfo(postgres_dbname)) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,),
        ).fetchall()
        assert ("application_events",) in tables


def test_eventsourcing_needs_password_var_and_existing_schema(
    postgres_server: PostgresServer, postgres_dbname: str
) -> None:
    """Pins two eventsourcing 9.5.6 behaviours the store factory relies on."""
    env = postgres_server.eventsourcing_env(postgres_dbname, schema="not_created")
    with pytest.raises(es_persistence.ProgrammingError, match="not_created"):
        Application(env=env)  # CREATE_TABLE does not CREATE SCHEMA

    del env["POSTGRES_PASSWORD"]
    with pytest.raises(OSError, match="POSTGRES_PASSWORD"):
        Application(env=env)


def test_postgres_server_as_context_manager_cleans_up(
    make_postgres_server: Callable[..., PostgresServer],
) -> None:
    """Benchmark style: a second cluster as a context manager, removed on exit."""
    with make_postgres_server() as other:
        with psycopg.connect(other.conninfo()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        data_dir = other.data_dir
        assert data_dir.is_dir()
    assert not data_dir.exists()
