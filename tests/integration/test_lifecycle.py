"""The first slice of the lifecycle across all four services, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.platform import complaint_body, eventually, register_brand


async def test_complaint_flows_through_all_four_services_with_one_trace_id(service: Any) -> None:
    intake = await service("intake")
    for name in ("routing", "compensation", "followup"):
        await service(name)
    brand = await register_brand(intake, "haier-demo")

    posted = await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    assert posted.status_code == 201, posted.text
    complaint_id = posted.json()["complaint_id"]

    async def offered() -> Any:
        body = (await intake.client.get(f"/v1/complaints/{complaint_id}", headers=brand)).json()
        return body if body["offer"] else None

    complaint = await eventually(offered, what="an offer")
    option = next(o for o in complaint["offer"]["options"] if o["kind"] == "repair")
    accepted = await intake.client.post(
        f"/v1/complaints/{complaint_id}/consumer-actions",
        headers=brand,
        json={
            "action": "accept",
            "offer_id": complaint["offer"]["offer_id"],
            "option_id": option["option_id"],
        },
    )
    assert accepted.status_code == 202, accepted.text

    async def full_history() -> Any:
        response = await intake.client.get(f"/v1/complaints/{complaint_id}/history", headers=brand)
        events = response.json()["events"]
        return events if any(e["type"] == "RevisitScheduled" for e in events) else None

    events = await eventually(full_history, what="RevisitScheduled in the history")
    clocks = [e["type"] for e in events if e["type"].startswith("Sla")]
    assert clocks[:1] == ["SlaStarted"]  # acknowledge within 24 h [002 承诺书], met by the apology
    types = [e["type"] for e in events if not e["type"].startswith("Sla")]
    before_action = types[: types.index("ConsumerActed")]
    assert before_action[0] == "ComplaintReceived"
    assert set(before_action) == {
        "ComplaintReceived",
        "ComplaintClassified",
        "SeverityAssessed",
        "FirstContactOwned",
        "HandlerAssigned",
        "ResponseModeChosen",
        "ApologyIssued",
        "RemedyOptionsOffered",
        "FollowupCaseOpened",
    }
    assert before_action.index("ApologyIssued") < before_action.index("RemedyOptionsOffered")
    assert types[types.index("ConsumerActed") :] == [
        "ConsumerActed",
        "OfferAccepted",
        "RevisitScheduled",
    ]
    revisit = next(e for e in events if e["type"] == "RevisitScheduled")
    assert revisit["payload"]["offer_id"] == complaint["offer"]["offer_id"]  # contract 1.1
    assert {e["service"] for e in events} == {"intake", "routing", "compensation", "followup"}
    assert {e["trace_id"] for e in events} == {posted.json()["trace_id"]}
    ids = {e["event_id"] for e in events}
    for e in events:
        if e["type"] not in ("ComplaintReceived", "ConsumerActed"):
            assert e["causation_id"] in ids, f"{e['type']} is caused by an event in the history"
