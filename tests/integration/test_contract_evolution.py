"""Stored-event schema evolution on SQLite and PostgreSQL: old logs stay readable.

Followup's RevisitScheduled went from stored class version 1 to 2 (it now records the
accepted offer, `offer_id`) and its contract from 1.0 to 1.1. A v1 row, written exactly as
the old code wrote it, must still load through the upcaster (`upcast_v1_v2`) and publish
as a valid 1.1 contract; new rows carry their class version.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from services.followup.application import FollowupApplication
from services.followup.domain import FollowupCase
from shared.settings import Settings, persistence_env, prepare_store
from shared.store import EventMeta, derive_id

COMPLAINT_ID = UUID("5d0c6a8e-1f2b-4c3d-9e8f-7a6b5c4d3e2f")
META = EventMeta("acme", "cd" * 16, "9a8b7c6d-0000-4000-8000-000000000001")
TOPIC = "followup.FollowupCase.RevisitScheduled"


def open_followup(tmp_path: Path) -> FollowupApplication:
    settings = Settings(environment="test", data_dir=tmp_path / "data")
    env = persistence_env("followup", settings)
    prepare_store(env)  # the service's own schema on PostgreSQL
    return FollowupApplication(env=env)


def stored_as_v1(app: FollowupApplication, version: int) -> StoredEvent:
    """RevisitScheduled as the v1 code stored it: its attributes, no offer_id, no class_version."""
    state: dict[str, Any] = {
        "timestamp": datetime(2026, 3, 4, 8, 30, tzinfo=UTC),
        "meta": META,
        "revisit_id": "revisit-v1",
        "due_date": "2026-03-09",
        "channel": "phone",
        "calendar_covered": True,
    }
    data = app.mapper.transcoder.encode(state)
    assert app.mapper.compressor is None
    assert app.mapper.cipher is None
    return StoredEvent(COMPLAINT_ID, version, TOPIC, data)


def test_a_revisit_stored_at_v1_loads_and_publishes_as_contract_1_1(
    store: str, tmp_path: Path
) -> None:
    app = open_followup(tmp_path)
    case = FollowupCase(id=COMPLAINT_ID, meta=META)
    case.open_followup(meta=META, acknowledge_by="a", plan_by="p")
    app.save(case)
    old_row = stored_as_v1(app, version=3)
    assert "class_version" not in json.loads(old_row.state)
    app.recorder.insert_events([old_row])
    app.close()

    app = open_followup(tmp_path)  # a new build reading the old log
    loaded: FollowupCase = app.repository.get(COMPLAINT_ID)
    assert loaded.version == 3
    assert loaded.revisits == [
        {"revisit_id": "revisit-v1", "due_date": "2026-03-09", "channel": "phone"}
    ]
    page = list(app.contracts_since(1, 10))
    assert [nid for nid, _ in page] == [1, 2, 3]
    revisit = page[2][1]
    assert revisit is not None
    assert revisit.type == "RevisitScheduled"
    assert revisit.schema_version == "1.1"
    assert revisit.event_id == derive_id("followup", COMPLAINT_ID, 3)
    assert revisit.occurred_at == datetime(2026, 3, 4, 8, 30, tzinfo=UTC)
    assert revisit.payload == {
        "revisit_id": "revisit-v1",
        "due_date": "2026-03-09",
        "channel": "phone",
        "calendar_covered": True,
        "offer_id": None,  # the upcaster's default: not recorded by v1
    }

    loaded.schedule_revisit(
        meta=META,
        revisit_id="revisit-v2",
        due_date="2026-03-16",
        channel="phone",
        calendar_covered=True,
        offer_id="offer-2",
    )
    app.save(loaded)
    (new_row,) = app.recorder.select_events(COMPLAINT_ID, gt=3)
    assert json.loads(new_row.state)["class_version"] == 2
    assert json.loads(new_row.state)["offer_id"] == "offer-2"
    (_, latest), = list(app.contracts_since(4, 10))
    assert latest is not None
    assert latest.payload["offer_id"] == "offer-2"
    assert len(app.repository.get(COMPLAINT_ID).revisits) == 2
    app.close()
