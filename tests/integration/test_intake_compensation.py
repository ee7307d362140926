"""Intake for issue 19, with real NATS, SQLite and PostgreSQL, and a real HTTP receiver.

- The complaint body takes the facts remedies are decided on (sale channel, delivery date,
  declared value, insured, loss, fault date), refuses impossible ones with problem+json
  422, shows them, and publishes ComplaintReceived 2.0 with them.
- A 1.1 ComplaintReceived on INTAKE (an intake not yet upgraded) is read as 2.0.
- The status feed: "awaiting_approval" then "fulfilled", whatever order the COMPENSATION
  and ROUTING streams arrive in; the view shows the pending approval and the fulfilment.
- A brand subscribed to RemedyFulfilled is notified once, even when the same contract
  event arrives twice on the stream.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.bus import HEADER_MSG_ID
from shared.calendar import business_date
from shared.contracts import ContractEvent, make_contract
from shared.settings import Settings
from tests.integration.test_consumer import upstream_streams
from tests.integration.test_regulator_transfers import (
    post_transfer,
    register_regulator,
    transfer_body,
)
from tests.integration.test_webhooks import LOCAL_RECEIVERS, Receiver
from tests.platform import RunningService, complaint_body, eventually, register_brand, serving

FACTS = {
    "order": {
        "purchase_date": "2026-06-18",
        "price_fen": 459900,
        "merchant": "苏宁易购",
        "sale_channel": "distance",
        "delivery_date": "2026-06-20",
        "declared_value_fen": 459900,
        "insured": True,
    },
    "loss_fen": 35000,
    "fault_date": "2026-07-01",
    "media_reach": "private",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Receivers on 127.0.0.1 allowed; retries in tens of milliseconds."""
    return settings.model_copy(update={"webhook_base_delay_s": 0.05, **LOCAL_RECEIVERS})


async def test_the_new_facts_are_taken_shown_and_published_as_2_0(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "facts-brand")
    posted = await intake.client.post(
        "/v1/complaints", json=complaint_body(**FACTS), headers=brand
    )
    assert posted.status_code == 201, posted.text
    complaint_id = posted.json()["complaint_id"]
    view = (await intake.client.get(f"/v1/complaints/{complaint_id}", headers=brand)).json()
    assert view["order"] == {**FACTS["order"], "order_ref": None}
    assert (view["loss_fen"], view["fault_date"]) == (35000, "2026-07-01")
    assert view["approval"] is None, "none until an approval is pending"

    published = [
        c
        for _, c in intake.runtime.application.contracts_since(1, 500)
        if c is not None and c.type == "ComplaintReceived"
    ]
    assert len(published) == 1
    assert published[0].schema_version == "2.0"
    payload = published[0].payload
    assert payload["order"]["sale_channel"] == "distance"
    assert payload["order"]["delivery_date"] == "2026-06-20"
    assert payload["order"]["declared_value_fen"] == 459900
    assert payload["order"]["insured"] is True
    assert (payload["loss_fen"], payload["fault_date"]) == (35000, "2026-07-01")
    assert (payload["media_reach"], payload["media_exposure"]) == ("private", True)

    plain = await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    assert plain.status_code == 201, plain.text  # a 1.x-era body is still taken
    again = [
        c.payload
        for _, c in intake.runtime.application.contracts_since(1, 500)
        if c is not None and c.type == "ComplaintReceived"
    ][-1]
    assert again["order"]["sale_channel"] == "unknown"
    assert (again["media_reach"], again["media_exposure"]) == ("none", False)

    spec = (await intake.client.get("/openapi.json")).json()["components"]["schemas"]
    assert {"sale_channel", "delivery_date", "declared_value_fen", "insured"} <= set(
        spec["OrderIn"]["properties"]
    )
    assert {"loss_fen", "fault_date"} <= set(spec["NewComplaint"]["properties"])
    assert {"approval", "fulfilment"} <= set(spec["ComplaintDetail"]["properties"])


# A date in the future when the request is made (not when the module was collected: a run
# crossing midnight in Shanghai would make a collected "tomorrow" today). Two days ahead, so
# a request crossing midnight itself still sends a future date.
FUTURE = "<future>"
ORDER = FACTS["order"]


def future() -> str:
    return (business_date(datetime.now(UTC)) + timedelta(days=2)).isoformat()


def resolved(value: Any) -> Any:
    """`value` with every FUTURE placeholder replaced by a date in the future, now."""
    if value == FUTURE:
        return future()
    if isinstance(value, dict):
        return {key: resolved(item) for key, item in value.items()}
    return value


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"order": {**ORDER, "delivery_date": "2026-06-17"}}, ["body", "order"]),
        ({"order": {**ORDER, "delivery_date": FUTURE}}, ["body", "order", "delivery_date"]),
        ({"fault_date": FUTURE}, ["body", "fault_date"]),
        ({"fault_date": "2026-06-01"}, ["body"]),  # before the purchase
        ({"loss_fen": -1}, ["body", "loss_fen"]),
        ({"loss_fen": 12.5}, ["body", "loss_fen"]),
        ({"loss_fen": "100"}, ["body", "loss_fen"]),
        ({"order": {**ORDER, "declared_value_fen": 99.9}}, ["body", "order", "declared_value_fen"]),
        ({"order": {**ORDER, "declared_value_fen": -5}}, ["body", "order", "declared_value_fen"]),
        ({"order": {**ORDER, "sale_channel": "vending"}}, ["body", "order", "sale_channel"]),
        ({"order": {**ORDER, "insured": "yes"}}, ["body", "order", "insured"]),
        ({"fault_date": 20260701}, ["body", "fault_date"]),
        ({"media_exposure": True, "media_reach": "none"}, ["body"]),
    ],
    ids=[
        "delivered-before-purchase",
        "delivered-in-the-future",
        "fault-in-the-future",
        "fault-before-purchase",
        "negative-loss",
        "fractional-fen",
        "fen-as-text",
        "fractional-declared-value",
        "negative-declared-value",
        "unknown-sale-channel",
        "insured-not-a-boolean",
        "date-as-number",
        "exposure-without-reach",
    ],
)
async def test_impossible_facts_are_refused_with_problem_json_naming_the_field(
    service: Any, change: dict[str, Any], where: list[str]
) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "strict-brand")
    body = complaint_body(**{**FACTS, **resolved(change)})
    response = await intake.client.post("/v1/complaints", json=body, headers=brand)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    locs = [e["loc"] for e in response.json()["errors"]]
    assert any(loc[: len(where)] == where for loc in locs), locs
    listed = (await intake.client.get("/v1/complaints", headers=brand)).json()
    assert listed["items"] == [], "nothing recorded"


async def test_a_1_1_complaint_received_on_intake_is_read_as_2_0(service: Any) -> None:
    routing = await service("routing")
    await upstream_streams(routing, "intake", "compensation", "followup")
    complaint_id = uuid.uuid4()
    old = {
        "event_id": str(uuid.uuid4()),
        "type": "ComplaintReceived",
        "schema_version": "1.1",
        "service": "intake",
        "complaint_id": str(complaint_id),
        "brand_id": "acme",
        "occurred_at": datetime.now(UTC).isoformat(),
        "trace_id": uuid.uuid4().hex,
        "causation_id": None,
        "correlation_id": str(complaint_id),
        "payload": {
            "channel": "phone",
            "subject_ref": "subject-9",
            "product": {"category": "电视 television"},
            "order": {"price_fen": 329900},
            "description": "电视黑屏，质量故障，已经发到微博",
            "demands": [{"kind": "exchange"}],
            "media_exposure": True,
        },
    }
    bus = await routing.admin_bus()
    subject = f"intake.acme.{complaint_id}.ComplaintReceived"
    await bus.js.publish(subject, json.dumps(old).encode(), stream="INTAKE")
    app = routing.runtime.application

    async def opened() -> Any:
        return await asyncio.to_thread(app.get_or_none, complaint_id)

    case = await eventually(opened, what="the routing case")
    received = case.received["payload"]
    assert received["order"]["sale_channel"] == "unknown"
    assert received["media_reach"] == "local"
    assert received["media_reach_assumed"] is True
    assert received["loss_fen"] is None
    assert case.severity is not None
    assert app.dead_letters() == []


def contract(event_type: str, complaint_id: uuid.UUID, payload: dict[str, Any]) -> ContractEvent:
    return make_contract(
        event_id=uuid.uuid5(complaint_id, event_type),
        event_type=event_type,
        complaint_id=complaint_id,
        brand_id="acme",
        occurred_at=datetime.now(UTC),
        trace_id="ef" * 16,
        causation_id=None,
        payload=payload,
    )


OPTION = {"option_id": "refund", "kind": "refund", "amount_fen": 459900, "description": "退款"}
FLOW: dict[str, dict[str, Any]] = {
    "ComplaintClassified": {
        "category": "product_quality",
        "dimension": "reliability",
        "well_founded": True,
        "reasons": ["质量故障"],
    },
    "HandlerAssigned": {"team": "frontline", "handler_id": "handler-li", "authority_fen": 50_000},
    "ApprovalRequested": {
        "approval_id": "approval-1",
        "offer_round": 1,
        "handler_id": "handler-li",
        "authority_fen": 50_000,
        "options": [OPTION],
        "reason": "退款超过处理人权限",
    },
    "ApprovalGranted": {
        "approval_id": "approval-1",
        "approved_by": "sup-wang",
        "reason": "三包期内",
        "options": [OPTION],
    },
    "RemedyOptionsOffered": {"offer_id": "offer-1", "options": [OPTION]},
    "OfferAccepted": {
        "offer_id": "offer-1",
        "option_id": "refund",
        "kind": "refund",
        "amount_fen": 459900,
    },
    "RemedyFulfilled": {
        "fulfilment_id": "fulfilment-1",
        "offer_id": "offer-1",
        "option_id": "refund",
        "kind": "refund",
        "amount_fen": 459900,
        "reference": "REF-20260705-01",
        "fulfilled_by": "handler-li",
        "notice": "您好，您的退款 4599.00 元已原路退回，请注意查收。",
    },
}


async def publish(
    intake: RunningService, stream: str, event: ContractEvent, msg_id: str | None = None
) -> None:
    headers = {HEADER_MSG_ID: msg_id or str(event.event_id)}
    bus = await intake.admin_bus()
    await bus.js.publish(event.subject, event.to_json(), stream=stream, headers=headers)


async def test_statuses_follow_approval_and_fulfilment_out_of_order_and_notify_once(
    service: Any,
) -> None:
    intake = await service("intake")
    await upstream_streams(intake, "routing", "compensation", "followup")
    brand = await register_brand(intake, "acme")
    receiver = Receiver(failures=0)
    receiver.gate.set()
    async with serving(receiver.handle) as receiver.port:
        created = await intake.client.post(
            "/v1/webhooks",
            headers=brand,
            json={"url": receiver.url("/fulfilled"), "event_types": ["RemedyFulfilled"]},
        )
        assert created.status_code == 201, created.text
        posted = await intake.client.post(
            "/v1/complaints", json=complaint_body(**FACTS), headers=brand
        )
        assert posted.status_code == 201, posted.text
        complaint_id = uuid.UUID(posted.json()["complaint_id"])
        url = f"/v1/complaints/{complaint_id}"

        async def status_is(expected: str) -> Any:
            body = (await intake.client.get(url, headers=brand)).json()
            return body if body["status"] == expected else None

        events = {name: contract(name, complaint_id, p) for name, p in FLOW.items()}
        # compensation's stream runs ahead of routing's: the approval arrives first
        await publish(intake, "COMPENSATION", events["ApprovalRequested"])
        waiting = await eventually(lambda: status_is("awaiting_approval"), what="the wait")
        assert waiting["approval"]["approval_id"] == "approval-1"
        assert waiting["approval"]["options"][0]["amount_fen"] == 459900
        await publish(intake, "ROUTING", events["ComplaintClassified"])
        await publish(intake, "ROUTING", events["HandlerAssigned"])
        await publish(intake, "COMPENSATION", events["ApprovalGranted"])
        assigned = await eventually(
            lambda: _handler(intake, url, brand), what="the late assignment"
        )
        assert assigned["status"] == "awaiting_approval", "late routing events: still waiting"
        for name in ("RemedyOptionsOffered", "OfferAccepted", "RemedyFulfilled"):
            await publish(intake, "COMPENSATION", events[name])
        done = await eventually(lambda: status_is("fulfilled"), what="fulfilled")
        assert done["approval"] is None
        assert done["fulfilment"]["kind"] == "refund"
        assert done["fulfilment"]["amount_fen"] == 459900
        assert done["fulfilment"]["reference"] == "REF-20260705-01"

        # the same contract event again, at a new stream position (another message id)
        await publish(intake, "COMPENSATION", events["RemedyFulfilled"], msg_id="republished")
        await publish(intake, "COMPENSATION", events["RemedyFulfilled"])  # deduplicated

        async def delivered() -> Any:
            return receiver.requests or None

        await eventually(delivered, what="the fulfilment notice")
        app = intake.runtime.application
        bus = await intake.admin_bus()
        last = (await bus.js.stream_info("COMPENSATION")).state.last_seq
        assert last == 6, "the republished event has a stream position of its own"

        async def all_read() -> Any:
            return await asyncio.to_thread(app.position, "COMPENSATION") >= last

        await eventually(all_read, what="the republished event processed")
        await asyncio.sleep(0.5)  # time for a second delivery, if one were scheduled
        assert len(receiver.requests) == 1, [r.headers for r in receiver.requests]
        notice = json.loads(receiver.requests[0].body)
        assert notice["type"] == "RemedyFulfilled"
        assert notice["payload"]["notice"].startswith("您好")
        assert app.dead_letters() == []
        final = (await intake.client.get(url, headers=brand)).json()
        assert final["status"] == "fulfilled"


async def _handler(intake: RunningService, url: str, brand: dict[str, str]) -> Any:
    body = (await intake.client.get(url, headers=brand)).json()
    return body if body["handler_id"] == "handler-li" else None


async def test_a_regulator_transfer_carries_the_new_facts_and_refuses_impossible_ones(
    service: Any,
) -> None:
    intake = await service("intake")
    await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    complaint = json.loads(transfer_body("bathhouse"))["complaint"]
    facts = {
        "order": {**complaint["order"], "sale_channel": "in_store", "purchase_date": "2026-01-05"},
        "loss_fen": 100000,
        "fault_date": "2026-02-01",
    }
    raw = transfer_body("bathhouse", complaint={**complaint, **facts})
    posted = await post_transfer(intake, secret, raw)
    assert posted.status_code == 201, posted.text
    published = [
        c.payload
        for _, c in intake.runtime.application.contracts_since(1, 500)
        if c is not None and c.type == "ComplaintReceived"
    ]
    assert published[0]["order"]["sale_channel"] == "in_store"
    assert (published[0]["loss_fen"], published[0]["fault_date"]) == (100000, "2026-02-01")
    assert published[0]["regulator"]["transfer_number"] == "沪消保委-2026-0001"

    later = {**complaint, **facts, "fault_date": future()}
    refused = await post_transfer(
        intake, secret, transfer_body("bathhouse", number="沪消保委-2026-0002", complaint=later)
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    locs = [e["loc"] for e in refused.json()["errors"]]
    assert ["body", "complaint", "fault_date"] in [loc[:3] for loc in locs], locs
