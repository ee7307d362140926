"""Idempotent creating POSTs (shared/idempotency.py) on a real store: SQLite and PostgreSQL.

A retry with the same Idempotency-Key and body gets the first response and creates
nothing; the same key with another body is a 409 and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake.application import IntakeApplication
from services.intake.schemas import NewComplaint, to_receive_complaint
from shared.idempotency import (
    IdempotencyKeyReused,
    IdempotentRequest,
    record_response,
    recorded_response,
)
from shared.service import open_application
from shared.settings import Settings
from tests.platform import SPECS, complaint_body

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _receive(app: IntakeApplication, key: str, body: bytes, phone: str) -> tuple[int, Any]:
    new = NewComplaint.model_validate(complaint_body(consumer={"name": "顾客", "phone": phone}))
    idempotency = IdempotentRequest.of("acme", key, body)
    assert idempotency is not None
    command = to_receive_complaint(new, "acme", "ab" * 16, AT, key, idempotency.body_hash)
    return app.receive_complaint(command)


def test_a_request_without_a_key_has_no_idempotency_and_records_nothing() -> None:
    assert IdempotentRequest.of("acme", None, b"{}") is None
    assert record_response(None, (201, {"a": 1})) == []


def test_the_record_id_derives_from_scope_and_key_only() -> None:
    first = IdempotentRequest.of("acme", "k1", b"one")
    again = IdempotentRequest.of("acme", "k1", b"two")
    other_brand = IdempotentRequest.of("globex", "k1", b"one")
    assert first is not None
    assert again is not None
    assert other_brand is not None
    assert first.record_id == again.record_id != other_brand.record_id
    assert first.body_hash != again.body_hash


def test_a_retry_with_the_same_key_and_body_replays_the_first_response(
    settings: Settings,
) -> None:
    app = open_application(SPECS["intake"], settings)
    assert isinstance(app, IntakeApplication)
    try:
        first = _receive(app, "k1", b"body-1", "13900000001")
        events_after_first = app.recorder.max_notification_id()
        again = _receive(app, "k1", b"body-1", "13900000001")
        assert first[0] == 201
        assert again == first
        assert app.recorder.max_notification_id() == events_after_first  # nothing new stored
        request = IdempotentRequest.of("acme", "k1", b"body-1")
        assert recorded_response(app, request) == first
        topics = [
            n.topic
            for n in app.recorder.select_notifications(1, 1000)
            if "IdempotencyRecord" in n.topic
        ]
        # The stored topic is the one intake always wrote: moving the class kept it.
        assert topics == ["intake.IdempotencyRecord.IdempotentRequestRecorded"]
    finally:
        app.close()


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
    settings: Settings,
) -> None:
    app = open_application(SPECS["intake"], settings)
    assert isinstance(app, IntakeApplication)
    try:
        _receive(app, "k1", b"body-1", "13900000001")
        before = app.recorder.max_notification_id()
        with pytest.raises(IdempotencyKeyReused, match="different body") as refused:
            _receive(app, "k1", b"body-2", "13900000002")
        assert refused.value.status == 409
        assert refused.value.extra == {"idempotency_key": "k1"}
        assert app.recorder.max_notification_id() == before
    finally:
        app.close()
