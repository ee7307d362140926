"""The outbox relay: everything appended is published, once, even across crashes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.intake.application import IntakeApplication
from services.intake.commands import RegisterBrand
from services.intake.schemas import NewComplaint, to_receive_complaint
from shared.bus import Bus
from shared.outbox import OutboxRelay
from shared.service import open_application
from shared.settings import Settings
from tests.platform import SPECS, complaint_body


def _append_complaints(app: IntakeApplication, count: int) -> list[str]:
    ids = []
    for n in range(count):
        # Unrelated complaints: the same consumer about the same fridge would be a duplicate,
        # and three consumers against one shop a group complaint.
        body_in = complaint_body(
            consumer={"name": "顾客", "phone": f"139{n:08d}"}, order={"merchant": f"门店{n}"}
        )
        new = NewComplaint.model_validate(body_in)
        command = to_receive_complaint(new, "acme", "ab" * 16, datetime.now(UTC), f"key-{n}")
        _, body = app.receive_complaint(command)
        ids.append(body["complaint_id"])
    return ids


async def _stream_subjects(bus: Bus) -> list[str]:
    return [m.subject for m in await bus.read_subject("INTAKE", "intake.>")]


@pytest.fixture
async def bus(settings: Settings) -> Any:
    bus = await Bus.connect(settings.nats_url, "test")
    await bus.ensure_own_streams("intake")
    yield bus
    await bus.close()


async def test_events_appended_before_a_crash_are_published_once_after_restart(
    settings: Settings, bus: Bus
) -> None:
    app = open_application(SPECS["intake"], settings)
    assert isinstance(app, IntakeApplication)
    ids = _append_complaints(app, 3)  # appended; the process "dies" before any publish

    restarted = OutboxRelay(app, bus)
    await restarted.resume()
    assert restarted.position == 0
    while await restarted.relay_once():
        pass

    subjects = await _stream_subjects(bus)
    assert sorted(subjects) == sorted(f"intake.acme.{i}.ComplaintReceived" for i in ids)
    app.close()


async def test_republishing_after_a_crash_between_publish_and_progress_is_deduplicated(
    settings: Settings, bus: Bus
) -> None:
    app = open_application(SPECS["intake"], settings)
    assert isinstance(app, IntakeApplication)
    _append_complaints(app, 4)
    first = OutboxRelay(app, bus)
    await first.resume()
    while await first.relay_once():
        pass

    # A relay that lost its progress re-publishes everything: Msg-Id dedup drops it all.
    amnesiac = OutboxRelay(app, bus)
    amnesiac.position = 0
    while await amnesiac.relay_once():
        pass
    assert len(await _stream_subjects(bus)) == 4

    # A normal restart resumes after the last published notification; the internal
    # events after it are read again and still not published.
    resumed = OutboxRelay(app, bus)
    await resumed.resume()
    assert 0 < resumed.position < app.recorder.max_notification_id()
    while await resumed.relay_once():
        pass
    assert resumed.position == app.recorder.max_notification_id()
    assert len(await _stream_subjects(bus)) == 4
    app.close()


async def test_internal_events_are_not_published(
    settings: Settings, bus: Bus, tmp_path: Path
) -> None:
    app = open_application(SPECS["intake"], settings)
    assert isinstance(app, IntakeApplication)
    # Brand registration is internal to intake.
    app.register_brand(RegisterBrand("acme", "Acme", datetime.now(UTC)))
    _append_complaints(app, 1)
    relay = OutboxRelay(app, bus)
    await relay.resume()
    while await relay.relay_once():
        pass
    subjects = await _stream_subjects(bus)
    assert len(subjects) == 1
    assert subjects[0].endswith(".ComplaintReceived")
    assert relay.position == app.recorder.max_notification_id()
    app.close()


async def test_a_lost_stream_is_recreated_and_refilled_in_the_same_order(
    settings: Settings, bus: Bus
) -> None:
    """A server that lost the stream: the owner's relay re-creates it and re-publishes its
    log, so every event gets back the sequence it had (consumers holding at their recorded
    position then see the same messages again, and skip them)."""
    app = open_application(SPECS["intake"], settings)
    assert isinstance(app, IntakeApplication)
    _append_complaints(app, 3)
    relay = OutboxRelay(app, bus)
    await relay.resume()
    while await relay.relay_once():
        pass
    before = await bus.read_subject("INTAKE", "intake.>")
    await bus.js.delete_stream("INTAKE")
    await bus.js.delete_stream("DLQ_INTAKE")

    await relay.resume()
    assert relay.position == 0
    while await relay.relay_once():
        pass
    after = await bus.read_subject("INTAKE", "intake.>")
    assert [(m.sequence, m.subject, m.data) for m in after] == [
        (m.sequence, m.subject, m.data) for m in before
    ]
    app.close()


async def test_the_old_shared_dead_letter_stream_is_moved_aside_not_deleted(
    settings: Settings,
) -> None:
    """A JetStream store from before streams had owners holds DEADLETTER on `dlq.>`, which
    would overlap every DLQ_<SERVICE>: it is moved off those subjects, its messages kept."""
    from nats.js.api import StreamConfig

    bus = await Bus.connect(settings.nats_url, "test")
    await bus.js.add_stream(StreamConfig(name="DEADLETTER", subjects=["dlq.>"]))
    await bus.js.publish("dlq.routing.INTAKE", b"an old dead letter", stream="DEADLETTER")

    await bus.ensure_own_streams("routing")
    await bus.ensure_own_streams("compensation")  # the second owner finds it retired
    legacy = await bus.js.stream_info("DEADLETTER")
    assert legacy.config.subjects == ["deadletter-legacy.>"]
    assert legacy.state.messages == 1
    await bus.js.publish("dlq.routing.INTAKE", b"a new one", stream="DLQ_ROUTING")
    assert [m.data for m in await bus.read_subject("DLQ_ROUTING", "dlq.>")] == [b"a new one"]
    await bus.close()


async def test_a_refused_publish_names_the_notification_and_keeps_what_went_before(
    settings: Settings, bus: Bus
) -> None:
    from nats.js.api import DiscardPolicy

    from shared.bus import PublishFailed

    app = open_application(SPECS["intake"], settings)
    assert isinstance(app, IntakeApplication)
    _append_complaints(app, 3)
    info = await bus.js.stream_info("INTAKE")
    info.config.max_msgs, info.config.discard = 1, DiscardPolicy.NEW
    await bus.js.update_stream(info.config)  # INTAKE takes one message, then refuses
    relay = OutboxRelay(app, bus, publish_timeout=5)
    await relay.resume()
    with pytest.raises(PublishFailed) as failed:
        await relay.relay_once()
    stored = await bus.read_subject("INTAKE", "intake.>")
    published = [m.headers["Aftersales-Notification-Id"] for m in stored]
    assert len(published) == 1
    assert failed.value.stored == 1
    assert "maximum messages" in str(failed.value.error)
    assert failed.value.message.notification_id > int(published[0])
    assert relay.position == failed.value.message.notification_id - 1
    app.close()
