"""SLA clocks on real NATS and real stores (SQLite and PostgreSQL), services in-process.

Rules: regulator deadlines count in working days with 调休 (DOMAIN.md "Deadlines the seeds
quote"); acknowledge within 24 h, plan within 72 h for complex cases [002 承诺书]. The
transfer date is sent here as intake will send it (`regulator.transferred_on`, additive):
the test plays intake on the INTAKE stream.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.routing.application import RoutingApplication
from shared.contracts import ContractEvent, make_contract
from shared.settings import Settings
from tests.integration.test_consumer import publish, received, upstream_streams
from tests.integration.test_replay import verify
from tests.integration.test_webhooks import LOCAL_RECEIVERS, Receiver
from tests.platform import (
    RunningService,
    admin_headers,
    complaint_body,
    eventually,
    ops_token,
    register_brand,
    serving,
)

NATIONAL_DAY_FRIDAY = "2026-09-25"
# 7 working days from Friday 25 Sep 2026: 28, 29, 30 Sep, 8, 9, 10 (Saturday, 调休), 12 Oct.
ACCEPT_DUE = "2026-10-12T15:59:59.999999+00:00"
FAST_POLICY: dict[str, Any] = {
    "version": "fast-1",
    "clauses": [
        {
            "name": "acknowledge",
            "sources": ["phone", "web", "app"],
            "within": {"seconds": 1},
            "met_by": ["ApologyIssued"],
            "source_doc": "002 承诺书 (seconds here, hours in production)",
        }
    ],
    "escalation": {"levels": ["supervisor", "crisis"], "again_after": {"seconds": 1}},
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The scheduler checks every 0.1 s; webhook receivers on 127.0.0.1 are allowed."""
    return settings.model_copy(
        update={"sla_tick_s": 0.1, "webhook_base_delay_s": 0.05, **LOCAL_RECEIVERS}
    )


def transfer(transferred_on: str, brand_id: str = "acme") -> ContractEvent:
    regulator = {
        "regulator_id": "12315-sh",
        "transfer_number": f"T-{uuid.uuid4().hex[:8]}",
        "deadline_working_days": 7,
        "deadline_at": "2026-10-12T15:59:59.999999+00:00",
        "transferred_on": transferred_on,
    }
    return received(brand_id=brand_id, channel="regulator", regulator=regulator)


async def routing_payloads(service: RunningService, complaint_id: Any) -> list[dict[str, Any]]:
    """The complaint's events on ROUTING, as published: type and payload."""
    bus = await service.admin_bus()
    found = await bus.read_subject("ROUTING", f"routing.*.{complaint_id}.>")
    events = [json.loads(m.data) for m in found]
    return [{"type": e["type"], **e["payload"]} for e in events]


async def published(
    service: RunningService, complaint_id: Any, event_type: str, count: int = 1
) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        events = await routing_payloads(service, complaint_id)
        matching = [e for e in events if e["type"] == event_type]
        return matching if len(matching) >= count else None

    return await eventually(check, timeout=20, what=f"{count} {event_type}")


async def start_routing(service: Any) -> RunningService:
    routing: RunningService = await service("routing")
    await upstream_streams(routing, "intake", "compensation", "followup")
    return routing


def app_of(routing: RunningService) -> RoutingApplication:
    app = routing.runtime.application
    assert isinstance(app, RoutingApplication)
    return app


async def test_a_transfer_dated_the_friday_before_national_day_gets_its_deadlines(
    service: Any, settings: Settings
) -> None:
    routing = await start_routing(service)
    event = transfer(NATIONAL_DAY_FRIDAY)
    await publish(routing, event)
    started = await published(routing, event.complaint_id, "SlaStarted", 5)
    by_clause = {e["clause"]: e for e in started}
    assert set(by_clause) == {
        "acknowledge",
        "plan",  # a regulator transfer is high severity: a complex case [002 承诺书 72 h]
        "regulator_accept",
        "regulator_negotiate",
        "regulator_mediate",
    }
    accept = by_clause["regulator_accept"]
    assert accept["due_at"] == ACCEPT_DUE
    assert accept["starts_at"] == "2026-09-24T16:00:00+00:00"  # 00:00 Shanghai, 25 Sep
    assert accept["provisional"] is False
    assert accept["policy_version"] == "default-1"
    assert accept["calendar_version"] == app_of(routing).calendar.version
    # 10 working days: … 12, 13, 14, 15 Oct.
    assert by_clause["regulator_negotiate"]["due_at"] == "2026-10-15T15:59:59.999999+00:00"
    met = await published(routing, event.complaint_id, "SlaMet")
    assert [(m["clause"], m["by_event"]) for m in met] == [("regulator_accept", "HandlerAssigned")]

    view = await routing.client.get(
        f"/v1/ops/cases/{event.complaint_id}/sla", headers=admin_headers(routing)
    )
    assert view.status_code == 200, view.text
    clocks = {c["clause"]: c for c in view.json()["clocks"]}
    assert clocks["regulator_accept"]["status"] == "met"
    # Counted from the transfer, not from today: that deadline (15 Oct) has passed already.
    next_due = datetime.fromisoformat(view.json()["next_due_at"])
    assert next_due == datetime.fromisoformat(by_clause["regulator_negotiate"]["due_at"])
    await routing.stop()
    assert verify("routing", settings).exact


async def test_a_deadline_into_an_unknown_year_is_provisional_and_revised_on_load(
    service: Any, settings: Settings
) -> None:
    routing = await start_routing(service)
    event = transfer("2026-12-24")
    await publish(routing, event)
    started = await published(routing, event.complaint_id, "SlaStarted", 5)
    negotiate = next(e for e in started if e["clause"] == "regulator_negotiate")
    # Mon–Fri into 2027: 25, 28, 29, 30, 31 Dec, 1 (Fri), 4, 5, 6, 7 Jan.
    assert negotiate["due_at"] == "2027-01-07T15:59:59.999999+00:00"
    assert negotiate["provisional"] is True
    app = app_of(routing)
    version = await asyncio.to_thread(
        app.load_calendar_year,
        2027,
        [date(2027, 1, 1)],
        [],
        "test: 国务院办公厅 2027 holidays (New Year only)",
        datetime.now(UTC),
    )
    revised = await published(routing, event.complaint_id, "SlaDeadlineRevised", 2)
    by_clause = {e["clause"]: e for e in revised}
    assert set(by_clause) == {"regulator_negotiate", "regulator_mediate"}  # accept was met
    assert by_clause["regulator_negotiate"]["due_at"] == "2027-01-08T15:59:59.999999+00:00"
    assert by_clause["regulator_negotiate"]["previous_due_at"] == negotiate["due_at"]
    assert all(not e["provisional"] and e["calendar_version"] == version for e in revised)
    provisional = app.read_models.count_rows("routing_sla_clocks", {"provisional": True})
    assert provisional == 0
    await routing.stop()
    assert verify("routing", settings).exact


async def test_a_breach_escalates_along_the_chain_and_reaches_the_brands_webhook(
    service: Any, settings: Settings
) -> None:
    receiver = Receiver(failures=0)
    receiver.gate.set()
    async with serving(receiver.handle) as receiver.port:
        intake = await service("intake")
        routing = await start_routing(service)
        brand = await register_brand(intake, "sla-brand")
        put = await routing.client.put(
            "/v1/ops/brands/sla-brand/sla-policy", headers=admin_headers(routing), json=FAST_POLICY
        )
        assert put.status_code == 200, put.text
        hook = await intake.client.post(
            "/v1/webhooks",
            headers=brand,
            json={"url": receiver.url("/sla"), "event_types": ["SlaBreached", "Escalated"]},
        )
        assert hook.status_code == 201, hook.text
        posted = await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
        assert posted.status_code == 201, posted.text
        complaint_id = posted.json()["complaint_id"]

        async def delivered() -> list[dict[str, Any]] | None:
            bodies = [json.loads(r.body) for r in receiver.requests if r.status == 200]
            return bodies if len(bodies) >= 3 else None

        bodies = await eventually(delivered, timeout=30, what="three webhook deliveries")
        assert {b["complaint_id"] for b in bodies} == {complaint_id}
        assert [b["type"] for b in bodies].count("SlaBreached") == 1
        escalations = [b["payload"] for b in bodies if b["type"] == "Escalated"]
        assert [(e["level"], e["to_team"], e["by"]) for e in escalations] == [
            ("supervisor", "senior", "sla-timer"),
            ("crisis", "crisis", "sla-timer"),
        ]
        await asyncio.sleep(1.5)  # ticks go on: the chain has ended, nothing more fires
        events = await routing_payloads(routing, complaint_id)
        counts = {t: [e["type"] for e in events].count(t) for t in ("SlaBreached", "Escalated")}
        assert counts == {"SlaBreached": 1, "Escalated": 2}
        assert not await asyncio.to_thread(app_of(routing).sla_due, datetime.now(UTC))
        await routing.stop()
    assert verify("routing", settings).exact


async def test_pause_resume_and_escalate_check_roles_and_brands(
    service: Any, settings: Settings
) -> None:
    routing = await start_routing(service)
    event = received(brand_id="acme", channel="phone")
    await publish(routing, event)
    started = (await published(routing, event.complaint_id, "SlaStarted"))[0]
    base = f"/v1/ops/cases/{event.complaint_id}"
    handler = ops_token(routing, ("handler",), ("acme",), sub="handler-li")
    reason = {"reason": "等待质检鉴定，联系人 13812345678"}

    async def status(path: str, headers: dict[str, str], body: Any = reason) -> int:
        response = await routing.client.post(path, json=body, headers=headers)
        assert response.headers["content-type"].startswith("application/problem+json")
        return response.status_code

    assert await status(f"{base}/sla/pause", ops_token(routing, ("viewer",), ("acme",))) == 403
    assert await status(f"{base}/sla/pause", ops_token(routing, ("handler",), ("other",))) == 404
    assert await status(f"{base}/sla/pause", handler, {}) == 422
    assert await status(f"/v1/ops/cases/{uuid.uuid4()}/sla/pause", handler) == 404
    assert await status(f"{base}/sla/resume", handler) == 409

    paused = await routing.client.post(f"{base}/sla/pause", json=reason, headers=handler)
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"]
    assert paused.json()["next_due_at"] is None
    again = await routing.client.post(f"{base}/sla/pause", json=reason, headers=handler)
    assert again.status_code == 409
    assert again.json()["status"] == 409
    await asyncio.sleep(0.3)
    resumed = await routing.client.post(
        f"{base}/sla/resume", json={"reason": "鉴定报告已出"}, headers=handler
    )
    assert resumed.status_code == 200, resumed.text
    event_resumed = (await published(routing, event.complaint_id, "SlaResumed"))[0]
    new_due = datetime.fromisoformat(event_resumed["due_at"]["acknowledge"])
    moved = new_due - datetime.fromisoformat(started["due_at"])
    assert 0.3 <= moved.total_seconds() < 30
    paused_event = (await published(routing, event.complaint_id, "SlaPaused"))[0]
    assert "13812345678" not in paused_event["reason"]  # free text is redacted
    assert paused_event["clauses"] == ["acknowledge"]

    levels = []
    for _ in range(2):
        escalated = await routing.client.post(f"{base}/escalate", json=reason, headers=handler)
        assert escalated.status_code == 200, escalated.text
        levels.append(escalated.json()["escalation_level"])
    assert levels == ["supervisor", "crisis"]
    top = await routing.client.post(f"{base}/escalate", json=reason, headers=handler)
    assert top.status_code == 409
    manual = await published(routing, event.complaint_id, "Escalated", 2)
    assert [(e["by"], e["clause"]) for e in manual] == [("handler-li", None)] * 2
    assert all(e["authority_fen"] > 0 for e in manual)  # 1.1: for compensation's approvals
    await routing.stop()
    assert verify("routing", settings).exact


async def test_sla_policies_are_versioned_brand_scoped_and_validated(service: Any) -> None:
    routing = await start_routing(service)
    url = "/v1/ops/brands/acme/sla-policy"
    viewer = ops_token(routing, ("viewer",), ("acme",))
    shown = await routing.client.get(url, headers=viewer)
    assert shown.status_code == 200
    assert shown.json()["source"] == "default"
    assert shown.json()["policy"]["version"] == "default-1"
    assert (await routing.client.put(url, headers=viewer, json=FAST_POLICY)).status_code == 403
    other_admin = ops_token(routing, ("admin",), ("other",))
    refused = await routing.client.put(url, headers=other_admin, json=FAST_POLICY)
    assert refused.status_code == 404
    assert (await routing.client.get(url, headers=other_admin)).status_code == 404
    admin = ops_token(routing, ("admin",), ("acme",))
    bad = {**FAST_POLICY, "clauses": [{**FAST_POLICY["clauses"][0], "met_by": ["Nothing"]}]}
    assert (await routing.client.put(url, headers=admin, json=bad)).status_code == 422
    assert (await routing.client.put(url, headers=admin, json=FAST_POLICY)).status_code == 200
    assert (await routing.client.put(url, headers=admin, json=FAST_POLICY)).status_code == 200
    twice = {**FAST_POLICY, "version": "twice", "clauses": FAST_POLICY["clauses"] * 2}
    assert (await routing.client.put(url, headers=admin, json=twice)).status_code == 409
    changed = {**FAST_POLICY, "escalation": {"levels": ["crisis"]}}
    conflict = await routing.client.put(url, headers=admin, json=changed)
    assert conflict.status_code == 409, conflict.text
    shown = await routing.client.get(url, headers=viewer)
    assert shown.json()["source"] == "brand"
    assert shown.json()["policy"]["version"] == "fast-1"

    event = received(brand_id="acme", channel="phone")
    await publish(routing, event)
    started = (await published(routing, event.complaint_id, "SlaStarted"))[0]
    assert started["policy_version"] == "fast-1"


async def test_the_apology_keeps_the_acknowledge_promise_and_a_withdrawal_stops_the_clocks(
    service: Any, settings: Settings
) -> None:
    intake = await service("intake")
    routing = await start_routing(service)
    await service("compensation")
    brand = await register_brand(intake, "apology-brand")
    posted = await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    assert posted.status_code == 201, posted.text
    complaint_id = posted.json()["complaint_id"]
    met = await published(routing, complaint_id, "SlaMet")
    assert [(m["clause"], m["by_event"]) for m in met] == [("acknowledge", "ApologyIssued")]

    other = transfer("2026-11-20")  # a transfer, then withdrawn: the apology keeps only one
    await publish(routing, other)
    await published(routing, other.complaint_id, "SlaStarted", 5)
    withdrawn = make_contract(
        event_id=uuid.uuid4(),
        event_type="ComplaintWithdrawn",
        complaint_id=other.complaint_id,
        brand_id="acme",
        occurred_at=datetime.now(UTC),
        trace_id=other.trace_id,
        causation_id=None,
        payload={"reason": "consumer withdrew"},
    )
    await publish(routing, withdrawn)
    url = f"/v1/ops/cases/{other.complaint_id}/sla"

    async def stopped() -> Any:
        body = (await routing.client.get(url, headers=admin_headers(routing))).json()
        statuses = {c["clause"]: c["status"] for c in body["clocks"]}
        return statuses if statuses.get("regulator_mediate") == "stopped" else None

    statuses = await eventually(stopped, what="the withdrawn complaint's clocks stopped")
    assert statuses["regulator_negotiate"] == "stopped"
    assert statuses["regulator_accept"] == "met"  # by routing's own HandlerAssigned
    assert not {"running", "paused", "breached"} & set(statuses.values()), statuses
    view = (await routing.client.get(url, headers=admin_headers(routing))).json()
    assert view["next_due_at"] is None
    await routing.stop()
    assert verify("routing", settings).exact
