"""NATS requires credentials; each service publishes only its own subjects (issue 17, item 5).

Every test runs against a real nats-server started with the config `aftersales up` writes
(`shared.natsauth.prepare_server`): one user per service, an admin, no anonymous access.
"""

from __future__ import annotations

import asyncio
import logging
import stat
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
import pytest
from nats.errors import TimeoutError as NatsTimeoutError

from services.routing.main import SPEC as ROUTING_SPEC
from shared.bus import Bus, NatsAuthRefused
from shared.cli import main as cli_main
from shared.contracts import STREAMS
from shared.natsauth import (
    USERS,
    permissions_table,
    prepare_server,
    service_upstreams,
    write_server_config,
)
from shared.settings import Settings
from tests.platform import RunningService, eventually, start_service
from tests.servers import NatsServer, find_nats_server


async def _as(server: NatsServer, user: str) -> Bus:
    return await Bus.connect(
        server.plain_url, f"test-{user}", user=user, password=server.credentials[user]
    )


def _subject(service: str, event_type: str) -> str:
    return f"{service}.acme.{uuid.uuid4()}.{event_type}"


async def test_anonymous_client_is_refused_at_once(fresh_nats_server: NatsServer) -> None:
    began = time.monotonic()
    with pytest.raises(NatsAuthRefused, match="AFTERSALES_NATS_USER"):
        await Bus.connect(fresh_nats_server.plain_url, "anonymous")
    assert time.monotonic() - began < 5  # not nats-py's retry-forever loop
    with pytest.raises(Exception, match=r"(?i)authorization violation"):  # any client
        await nats.connect(fresh_nats_server.plain_url, allow_reconnect=False)


async def test_wrong_password_is_refused_with_one_clear_log_line(
    fresh_nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aftersales")
    with pytest.raises(NatsAuthRefused, match="user 'routing'"):
        await Bus.connect(fresh_nats_server.plain_url, "t", user="routing", password="x" * 40)
    refusals = [r for r in caplog.records if "refused the credentials" in r.getMessage()]
    assert len(refusals) == 1
    assert refusals[0].exc_info is None  # a clear line, no stack trace


async def test_a_service_with_a_wrong_password_does_not_start(
    settings: Settings, fresh_nats_server: NatsServer
) -> None:
    wrong = settings.model_copy(update={"nats_user": "routing", "nats_password": "y" * 40})
    with pytest.raises(NatsAuthRefused, match="AFTERSALES_NATS_PASSWORD"):
        await asyncio.wait_for(start_service("routing", wrong), 20)


async def test_routing_cannot_publish_into_intake_stream(fresh_nats_server: NatsServer) -> None:
    intake = await _as(fresh_nats_server, "intake")
    routing = await _as(fresh_nats_server, "routing")
    try:
        await intake.ensure_own_streams("intake")
        forged = _subject("intake", "ComplaintReceived")
        with pytest.raises(NatsTimeoutError):  # the server drops it: no ack ever comes
            await routing.js.publish(forged, b'{"forged": true}', timeout=1)
        await routing.nc.publish(forged, b'{"forged": true}')  # core NATS, no ack asked
        await routing.nc.flush()
        assert await intake.stream_bounds("INTAKE") == (0, 0)
        assert await intake.next_sequence("INTAKE", 1, forged) is None
        assert routing.connected  # a refused publish is not a disconnect
        # the owner's own publish still goes through
        ack = await intake.js.publish(_subject("intake", "ComplaintReceived"), b"{}")
        assert (ack.stream, ack.seq) == ("INTAKE", 1)
    finally:
        await routing.close()
        await intake.close()


async def test_a_service_publishes_its_own_and_dead_letter_subjects(
    fresh_nats_server: NatsServer,
) -> None:
    routing = await _as(fresh_nats_server, "routing")
    try:
        await routing.ensure_own_streams("routing")
        ack = await routing.js.publish(_subject("routing", "ComplaintClassified"), b"{}")
        dead = await routing.js.publish("dlq.routing.INTAKE", b"{}")
        assert (ack.stream, ack.seq, dead.stream) == ("ROUTING", 1, "DLQ_ROUTING")
        with pytest.raises(NatsTimeoutError):  # another service's dead letters
            await routing.js.publish("dlq.intake.ROUTING", b"{}", timeout=1)
    finally:
        await routing.close()


async def test_a_service_reads_only_the_streams_it_consumes(
    fresh_nats_server: NatsServer,
) -> None:
    followup = await _as(fresh_nats_server, "followup")
    intake = await _as(fresh_nats_server, "intake")
    routing = await _as(fresh_nats_server, "routing")
    try:
        await routing.ensure_own_streams("routing")
        await intake.ensure_own_streams("intake")
        await intake.js.publish(_subject("intake", "ComplaintReceived"), b"{}")
        sub = await routing.position_consumer("INTAKE", "routing-from-intake", 1)
        [msg] = await sub.fetch(1, timeout=5)  # its upstream: consumed and acked
        await msg.ack()
        with pytest.raises(NatsTimeoutError):  # not its upstream: no consumer for it
            await followup.position_consumer("ROUTING", "followup-from-routing", 1)
        with pytest.raises(NatsTimeoutError):  # nor may it reconfigure another's stream
            await routing.js.update_stream(name="INTAKE", subjects=["intake.>", "routing.>"])
    finally:
        for bus in (routing, intake, followup):
            await bus.close()


async def test_a_service_cannot_listen_on_subjects_or_inboxes_of_others(
    fresh_nats_server: NatsServer,
) -> None:
    intake = await _as(fresh_nats_server, "intake")
    routing = await _as(fresh_nats_server, "routing")
    try:
        await intake.ensure_own_streams("intake")
        heard: list[str] = []

        async def hear(msg: nats.aio.msg.Msg) -> None:
            heard.append(msg.subject)

        for subject in ("intake.>", "_INBOX_intake.>", "_INBOX.>", ">"):
            await routing.nc.subscribe(subject, cb=hear)
        await routing.nc.flush()
        await intake.js.publish(_subject("intake", "ComplaintReceived"), b"{}")  # acked via inbox
        await intake.stream_bounds("INTAKE")
        await asyncio.sleep(0.2)
        assert heard == []
    finally:
        await routing.close()
        await intake.close()


def test_permissions_are_derived_from_the_service_specs() -> None:
    table = permissions_table()
    assert set(table) == set(STREAMS)
    assert service_upstreams()["routing"] == tuple(ROUTING_SPEC.upstreams)
    for service, upstreams in service_upstreams().items():
        publish = table[service].publish
        own = {f"{service}.>", f"dlq.{service}.>"}
        others = {f"{s}.>" for s in STREAMS if s != service}
        assert own <= set(publish)
        assert not others & set(publish)
        for stream in upstreams:
            assert f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>" in publish
            assert f"$JS.ACK.{stream}.>" in publish
        for stream in set(STREAMS.values()) - set(upstreams) - {STREAMS[service]}:
            assert f"$JS.ACK.{stream}.>" not in publish
            assert f"$JS.API.STREAM.UPDATE.{stream}" not in publish
        assert table[service].subscribe == (f"_INBOX_{service}.>",)
        assert not any(subject in ("$JS.API.>", ">") for subject in publish)
    # intake's history reads every stream, by direct get
    assert all(f"$JS.API.DIRECT.GET.{s}" in table["intake"].publish for s in STREAMS.values())


def test_credentials_are_made_once_per_data_dir_and_private(tmp_path: Path) -> None:
    config, first = prepare_server(tmp_path / "data", tmp_path / "data" / "nats")
    _, again = prepare_server(tmp_path / "data", tmp_path / "data" / "nats")
    assert first == again
    assert set(first) == set(USERS)
    assert len(set(first.values())) == len(USERS)
    for path in (config, tmp_path / "data" / "nats-credentials.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    binary = find_nats_server()
    assert binary is not None
    checked = subprocess.run([binary, "-t", "-c", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_nats_config_command_writes_the_config_from_env_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "deploy" / "nats.conf"
    argv = ["nats-config", "--out", str(out), "--store-dir", str(tmp_path / "js")]
    for user in USERS:
        monkeypatch.delenv(f"AFTERSALES_NATS_PASSWORD_{user.upper()}", raising=False)
    assert cli_main(argv) == 2
    assert "AFTERSALES_NATS_PASSWORD_ROUTING" in capsys.readouterr().err
    assert not out.exists()
    for user in USERS:
        monkeypatch.setenv(f"AFTERSALES_NATS_PASSWORD_{user.upper()}", f"{user}-secret-0123456789")
    assert cli_main(argv) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "routing-secret-0123456789" in out.read_text()


async def test_services_connect_as_their_own_users(
    service: Callable[[str], Awaitable[RunningService]],
) -> None:
    started = [await service(name) for name in STREAMS]  # each needs the others' streams
    for running in started:
        name = running.name
        assert running.runtime.settings.nats_user == name
        assert running.runtime.bus.nc._inbox_prefix.decode() == f"_INBOX_{name}"

        async def ready(running: RunningService = running) -> bool:
            return (await running.client.get("/readyz")).status_code == 200

        await eventually(ready, 15, f"{name} ready as its own NATS user")


async def test_credentials_refused_after_a_restart_show_in_readiness_not_in_a_log_flood(
    settings: Settings,
    fresh_nats_server: NatsServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aftersales")
    running = await start_service("routing", settings)
    try:
        assert running.runtime.bus.connected
        assert running.runtime.bus.problem is None
        assert fresh_nats_server.config is not None
        changed = {**fresh_nats_server.credentials, "routing": "rotated-" + "z" * 40}
        write_server_config(fresh_nats_server.config, changed, fresh_nats_server.store_dir)
        fresh_nats_server.restart()

        async def refused() -> str | None:
            response = await running.client.get("/readyz")
            detail = response.json().get("detail", "") if response.status_code == 503 else ""
            return detail if "refused the credentials of user 'routing'" in detail else None

        detail = await eventually(refused, 15, "readiness naming the refused credentials")
        assert "AFTERSALES_NATS_PASSWORD" in detail
        await asyncio.sleep(2)  # nats-py retries every 0.5 s: still one line per streak
        lines = [r for r in caplog.records if "refused the credentials" in r.getMessage()]
        assert len(lines) == 1
    finally:
        original = fresh_nats_server.credentials
        write_server_config(fresh_nats_server.config, original, fresh_nats_server.store_dir)
        fresh_nats_server.restart()
        await running.stop()
