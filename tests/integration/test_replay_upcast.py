"""Replay stays exact over inputs recorded before ComplaintReceived 2.0, on SQLite and PostgreSQL.

Routing, compensation and followup each record a 1.1 ComplaintReceived exactly as the 1.x
build did (the contract as published, in UpstreamInput, routing's CaseOpened and
compensation's InputRecorded) and act on it. The 2.0 build reads those stored events with
the contract upcast: the cases rebuilt from them hold the 2.0 shape, and `replay --verify`
reproduces every stored event (a 1.1 complaint with media exposure and no reach is assessed
as it was: the derived "local" reach is flagged as assumed).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from shared.contracts import ContractEvent, make_contract
from shared.inputs import COMMAND_TOPIC
from shared.replay import verify_replay
from shared.settings import Settings, application_secrets, persistence_env, prepare_store
from shared.store import ServiceApplication
from tests.platform import SPECS, complaint_body, register_brand

COMPLAINT_ID = UUID("2b7e1f3c-9a4d-4e5f-8c6b-0d1a2e3f4a5b")
PUBLISHED_AT_1_1: dict[str, Any] = {  # as intake 1.1 published it: no 2.0 field
    "event_id": "0f3a4b5c-6d7e-5f80-9a1b-2c3d4e5f6a7b",
    "type": "ComplaintReceived",
    "schema_version": "1.1",
    "service": "intake",
    "complaint_id": str(COMPLAINT_ID),
    "brand_id": "acme",
    "occurred_at": "2026-03-02T02:00:00+00:00",
    "trace_id": "cd" * 16,
    "causation_id": None,
    "correlation_id": str(COMPLAINT_ID),
    "payload": {
        "channel": "phone",
        "subject_ref": "subject-1",
        "product": {"category": "微波炉 microwave", "model": None, "serial": None},
        "order": {"purchase_date": "2026-02-01", "price_fen": 30_000, "merchant": None,
                  "order_ref": None},
        "description": "加热不了，网上已经有人发帖",
        "demands": [{"kind": "refund", "amount_fen": None}],
        "attachments": [],
        "media_exposure": True,
        "injury": False,
        "regulator": None,
        "group_id": None,
        "nuisance": False,
        "received_by": "desk-2",
        "media_reach": None,
    },
}  # fmt: skip


def live_env(name: str, settings: Settings) -> dict[str, str]:
    return {**persistence_env(name, settings), **application_secrets(settings)}


def open_app(name: str, settings: Settings) -> ServiceApplication:
    env = live_env(name, settings)
    prepare_store(env)  # the service's own schema on PostgreSQL
    return SPECS[name].application(env=env)


def handler_assigned() -> ContractEvent:
    return make_contract(
        event_id=UUID(int=0xA551),
        event_type="HandlerAssigned",
        complaint_id=COMPLAINT_ID,
        brand_id="acme",
        occurred_at=datetime(2026, 3, 2, 2, 5, tzinfo=UTC),
        trace_id="cd" * 16,
        causation_id=PUBLISHED_AT_1_1["event_id"],
        payload={"team": "frontline", "handler_id": "handler-li", "authority_fen": 50_000},
    )


def record_as_the_1x_build_did(app: ServiceApplication, upstream_sequence: int) -> None:
    """The 1.x build recorded and acted on the contract as published (no upcast)."""
    as_published = ContractEvent.model_validate(PUBLISHED_AT_1_1)
    observed = datetime(2026, 3, 2, 2, 0, 1, tzinfo=UTC)
    assert app.process_contract(as_published, Tracking("INTAKE", upstream_sequence), observed)


def stored_states(app: ServiceApplication) -> list[dict[str, Any]]:
    return [json.loads(n.state) for n in app.recorder.select_notifications(1, 1000)]


def test_replay_over_a_recorded_1_1_complaint_received_is_exact(settings: Settings) -> None:
    for name in ("routing", "compensation", "followup"):
        app = open_app(name, settings)
        try:
            record_as_the_1x_build_did(app, upstream_sequence=1)
            if name == "compensation":
                observed = datetime(2026, 3, 2, 2, 5, 1, tzinfo=UTC)
                app.process_contract(handler_assigned(), Tracking("ROUTING", 1), observed)
            raw = [s for s in stored_states(app) if "contract" in s or "received" in s]
            recorded = [s.get("contract") or s["received"] for s in raw]
            assert recorded, f"{name} recorded the 1.1 input"
            for contract in recorded:  # the bytes are the 1.x build's
                if contract["type"] == "ComplaintReceived":
                    assert contract["schema_version"] == "1.1"
                    assert "sale_channel" not in contract["payload"]["order"]
        finally:
            app.close()

    routing = open_app("routing", settings)
    try:
        case: Any = routing.repository.get(COMPLAINT_ID)
        received = case.received["payload"]  # CaseOpened as stored by 1.x, read as 2.0
        assert received["order"]["sale_channel"] == "unknown"
        assert (received["media_reach"], received["media_reach_assumed"]) == ("local", True)
        assert case.severity == "high"
    finally:
        routing.close()
    compensation = open_app("compensation", settings)
    try:
        comp: Any = compensation.repository.get(COMPLAINT_ID)
        assert comp.received["order"]["sale_channel"] == "unknown"
        assert comp.received["loss_fen"] is None
        published = [c for _, c in compensation.contracts_since(1, 100) if c is not None]
        assert "RemedyOptionsOffered" in [c.type for c in published]
    finally:
        compensation.close()

    for name in ("routing", "compensation", "followup"):
        report = verify_replay(name, SPECS[name].application, live_env(name, settings))
        assert report.differences == [], f"{name}: {[str(d) for d in report.differences]}"
        assert report.inputs >= 1, report.summary()
        assert report.events > report.inputs, report.summary()


# --- intake: commands and ComplaintReceived recorded by the 1.x build -------------------

NEW_ORDER_FACTS = ("sale_channel", "delivery_date", "declared_value_fen", "insured")


def rewrite(app: ServiceApplication, topic: str, change: Any) -> int:
    """Rewrite every stored event of `topic` in place (as the 1.x build had written it)."""
    recorder: Any = app.recorder
    postgres = hasattr(recorder.datastore, "schema")
    table = recorder.events_table_name
    if postgres:
        sql = (
            f'UPDATE "{recorder.datastore.schema}"."{table}" SET state = %s '
            "WHERE originator_id = %s AND originator_version = %s"
        )
    else:
        sql = f"UPDATE {table} SET state = ? WHERE originator_id = ? AND originator_version = ?"
    changed = 0
    for stored in recorder.select_notifications(1, 100_000, topics=[topic]):
        state = json.loads(stored.state)
        if not change(state):
            continue
        new_state = json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()
        key: Any = stored.originator_id if postgres else UUID(str(stored.originator_id)).hex
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(sql, (new_state, key, stored.originator_version))
        changed += 1
    return changed


def as_v1_received(state: dict[str, Any]) -> bool:
    """ComplaintReceived v1: no class_version, loss or fault date; the order as 1.x took it."""
    assert state.pop("class_version") == 2, "written by the 2.0 build"
    state.pop("loss_fen")
    state.pop("fault_date")
    for name in NEW_ORDER_FACTS:
        state["order"].pop(name)
    return True


def as_1x_command(state: dict[str, Any]) -> bool:
    """complaint.receive as the 1.x build recorded it: its facts had none of the 2.0 ones."""
    if state["name"] != "complaint.receive":
        return False
    facts = state["args"]["facts"]
    facts.pop("loss_fen")
    facts.pop("fault_date")
    for name in NEW_ORDER_FACTS:
        facts["order"].pop(name)
    return True


async def test_intake_replays_commands_and_complaints_recorded_by_the_1x_build(
    service: Any, settings: Settings
) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "old-brand")
    ids = []
    for number in range(3):
        body = complaint_body(consumer={"name": "李女士", "phone": f"1390000{number:04d}"})
        posted = await intake.client.post("/v1/complaints", json=body, headers=brand)
        assert posted.status_code == 201, posted.text
        ids.append(UUID(posted.json()["complaint_id"]))
    await intake.stop()

    app = open_app("intake", settings)
    try:
        assert rewrite(app, "intake.Complaint.ComplaintReceived", as_v1_received) == 3
        assert rewrite(app, COMMAND_TOPIC, as_1x_command) == 3
    finally:
        app.close()

    report = verify_replay("intake", SPECS["intake"].application, live_env("intake", settings))
    assert report.differences == [], [str(d) for d in report.differences]
    assert report.inputs >= 3, report.summary()
    app = open_app("intake", settings)
    try:
        (row, *_) = app.recorder.select_notifications(
            1, 10, topics=["intake.Complaint.ComplaintReceived"]
        )
        assert "loss_fen" not in json.loads(row.state)
        decoded = vars(app.mapper.to_domain_event(row))
        assert (decoded["loss_fen"], decoded["fault_date"]) == (None, None), "upcast v1 → v2"
        complaint: Any = app.repository.get(ids[0])  # v1, upcast on loading
        assert (complaint.loss_fen, complaint.fault_date) == (None, None)
        assert "sale_channel" not in complaint.order
        published = [
            c for _, c in app.contracts_since(1, 1000) if c and c.type == "ComplaintReceived"
        ]
        assert len(published) == 3
        assert {c.payload["order"]["sale_channel"] for c in published} == {"unknown"}
        assert {c.schema_version for c in published} == {"2.0"}
    finally:
        app.close()
