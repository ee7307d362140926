"""The running relay: every notification once, in order, whoever committed it, across a kill.

The relay sleeps after publishing the log's tail until this process records more (a
wake) or its shortest poll elapses, so a commit by another process sharing the store is
published too; a relay cancelled while its asynchronous publishes are in flight is
followed by one that resumes from the stream and publishes the rest, once and in order.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake.application import IntakeApplication
from services.intake.schemas import NewComplaint, to_receive_complaint
from shared.bus import HEADER_MSG_ID, HEADER_NOTIFICATION, HEADER_TRACEPARENT, Bus
from shared.outbox import OutboxRelay
from shared.service import open_application
from shared.settings import Settings
from tests.platform import SPECS, complaint_body, eventually

_numbers = itertools.count()


def _append_complaints(app: IntakeApplication, count: int) -> list[str]:
    """`count` unrelated complaints (no duplicates, no groups), appended as intake does."""
    ids = []
    for _ in range(count):
        n = next(_numbers)
        body_in = complaint_body(
            consumer={"name": "顾客", "phone": f"137{n:08d}"}, order={"merchant": f"店{n}"}
        )
        new = NewComplaint.model_validate(body_in)
        command = to_receive_complaint(new, "acme", "ab" * 16, datetime.now(UTC), f"flow-{n}")
        _, body = app.receive_complaint(command)
        ids.append(body["complaint_id"])
    return ids


@pytest.fixture
async def bus(settings: Settings) -> Any:
    bus = await Bus.connect(settings.nats_url, "test")
    await bus.ensure_own_streams("intake")
    yield bus
    await bus.close()


def _intake(settings: Settings) -> IntakeApplication:
    app = open_application(SPECS["intake"], settings)
    assert isinstance(app, IntakeApplication)
    return app


async def _published(bus: Bus) -> list[tuple[int, str]]:
    """(notification id, subject) of every message on INTAKE, in stream order."""
    return [
        (int(m.headers[HEADER_NOTIFICATION]), m.subject)
        for m in await bus.read_subject("INTAKE", "intake.>")
    ]


def _assert_once_in_order(published: list[tuple[int, str]], ids: list[str]) -> None:
    notifications = [n for n, _ in published]
    assert notifications == sorted(set(notifications)), "out of order or published twice"
    complaints = [subject.split(".")[2] for _, subject in published]
    assert sorted(complaints) == sorted(ids)


async def test_commits_of_this_process_and_of_another_are_published_once_in_order(
    settings: Settings, bus: Bus
) -> None:
    here, there = _intake(settings), _intake(settings)  # `there` is another process
    relay = OutboxRelay(here, bus)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    ids: list[str] = []
    for _ in range(4):
        ids += await asyncio.to_thread(_append_complaints, here, 3)
        await asyncio.sleep(0.05)
        ids += await asyncio.to_thread(_append_complaints, there, 2)

    async def all_published() -> list[tuple[int, str]] | None:
        published = await _published(bus)
        return published if len(published) >= len(ids) else None

    _assert_once_in_order(await eventually(all_published, timeout=15), ids)
    assert relay.position == here.recorder.max_notification_id()
    stop.set()
    await task
    for app in (here, there):
        app.close()


async def test_a_relay_killed_with_publishes_in_flight_is_resumed_without_loss_or_duplicate(
    settings: Settings, bus: Bus
) -> None:
    app = _intake(settings)
    ids = await asyncio.to_thread(_append_complaints, app, 120)
    first = OutboxRelay(app, bus, page_size=25)
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    await eventually(_async(lambda: first.published > 0), what="a first page published")
    task.cancel()  # mid-stream, asynchronous publishes possibly in flight
    with pytest.raises(asyncio.CancelledError):
        await task
    before = await _published(bus)
    assert 0 < len(before) < len(ids)

    second = OutboxRelay(app, bus, page_size=25)
    await second.resume()
    assert second.position == before[-1][0]  # resumes after what the stream holds
    while await second.relay_once():
        pass
    published = await _published(bus)
    _assert_once_in_order(published, ids)
    headers = [m.headers for m in await bus.read_subject("INTAKE", "intake.>")]
    assert len({h[HEADER_MSG_ID] for h in headers}) == len(ids)
    app.close()


async def test_each_message_carries_a_producer_span_of_its_events_trace(
    settings: Settings, bus: Bus
) -> None:
    app = _intake(settings)
    await asyncio.to_thread(_append_complaints, app, 2)
    relay = OutboxRelay(app, bus)
    while await relay.relay_once():
        pass
    contracts = [c for _, c in app.contracts_since(1, 100) if c is not None]
    messages = await bus.read_subject("INTAKE", "intake.>")
    parents = []
    for contract, message in zip(contracts, messages, strict=True):
        match = re.fullmatch(
            r"00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]", message.headers[HEADER_TRACEPARENT]
        )
        assert match is not None, message.headers[HEADER_TRACEPARENT]
        assert match.group(1) == contract.trace_id
        assert int(match.group(2), 16) != 0
        parents.append(match.group(2))
    assert len(set(parents)) == len(parents)  # one producer span per message
    app.close()


def _async(predicate: Any) -> Any:
    async def check() -> bool:
        return bool(predicate())

    return check
