"""Step 8: the consumer accepts, rejects or counters; an offer that no longer stands is 409."""

from __future__ import annotations

from typing import Any

from tests.platform import RunningService, complaint_body, eventually, register_brand


async def _offered(intake: RunningService, brand: dict[str, str], phone: str) -> dict[str, Any]:
    body = complaint_body(
        consumer={"name": "顾客", "phone": phone},
        order={"merchant": f"门店{phone}", "price_fen": 329900},
        demands=[{"kind": "exchange"}, {"kind": "repair"}],
    )
    complaint_id = (await intake.client.post("/v1/complaints", json=body, headers=brand)).json()[
        "complaint_id"
    ]

    async def offered() -> Any:
        view = (await intake.client.get(f"/v1/complaints/{complaint_id}", headers=brand)).json()
        return view if view["offer_status"] == "open" else None

    view: dict[str, Any] = await eventually(offered, what="an open offer")
    return view


async def _types(
    intake: RunningService, brand: dict[str, str], complaint_id: str, wanted: str
) -> list[str]:
    async def check() -> Any:
        events = (
            await intake.client.get(f"/v1/complaints/{complaint_id}/history", headers=brand)
        ).json()["events"]
        types = [e["type"] for e in events]
        return types if wanted in types else None

    types: list[str] = await eventually(check, what=wanted)
    return types


async def test_accepting_an_offer_twice_is_refused_with_why(service: Any) -> None:
    intake = await service("intake")
    for name in ("routing", "compensation", "followup"):
        await service(name)
    brand = await register_brand(intake, "acme")
    view = await _offered(intake, brand, "13912340001")
    offer = view["offer"]
    path = f"/v1/complaints/{view['complaint_id']}/consumer-actions"
    accept = {
        "action": "accept",
        "offer_id": offer["offer_id"],
        "option_id": offer["options"][0]["option_id"],
    }
    assert (await intake.client.post(path, json=accept, headers=brand)).status_code == 202
    again = await intake.client.post(path, json=accept, headers=brand)
    assert again.status_code == 409
    assert "no longer open" in again.json()["detail"]
    unknown = await intake.client.post(
        path, headers=brand, json={"action": "reject", "offer_id": "not-an-offer", "reason": "x"}
    )
    assert unknown.status_code == 409
    assert "OfferAccepted" in await _types(intake, brand, view["complaint_id"], "OfferAccepted")


async def test_rejecting_and_countering_reach_compensation(service: Any) -> None:
    intake = await service("intake")
    for name in ("routing", "compensation"):
        await service(name)
    brand = await register_brand(intake, "acme")
    rejected = await _offered(intake, brand, "13912340002")
    response = await intake.client.post(
        f"/v1/complaints/{rejected['complaint_id']}/consumer-actions",
        headers=brand,
        json={
            "action": "reject",
            "offer_id": rejected["offer"]["offer_id"],
            "reason": "想要退款，不要换货",
        },
    )
    assert response.status_code == 202
    assert "OfferRejected" in await _types(intake, brand, rejected["complaint_id"], "OfferRejected")
    countered = await _offered(intake, brand, "13912340003")
    response = await intake.client.post(
        f"/v1/complaints/{countered['complaint_id']}/consumer-actions",
        headers=brand,
        json={
            "action": "counter",
            "offer_id": countered["offer"]["offer_id"],
            "counter_kind": "refund",
            "counter_amount_fen": 329900,
        },
    )
    assert response.status_code == 202
    types = await _types(intake, brand, countered["complaint_id"], "CounterProposalReceived")
    assert types.index("ConsumerActed") < types.index("CounterProposalReceived")


async def test_a_withdrawn_complaint_takes_no_more_actions(service: Any) -> None:
    intake = await service("intake")
    for name in ("routing", "compensation"):
        await service(name)
    brand = await register_brand(intake, "acme")
    view = await _offered(intake, brand, "13912340004")
    complaint_id = view["complaint_id"]
    withdrawn = await intake.client.post(
        f"/v1/complaints/{complaint_id}/withdrawal",
        headers=brand,
        json={"reason": "问题已自行解决"},
    )
    assert withdrawn.status_code == 202
    assert withdrawn.json()["status"] == "withdrawn"
    acted = await intake.client.post(
        f"/v1/complaints/{complaint_id}/consumer-actions",
        headers=brand,
        json={
            "action": "accept",
            "offer_id": view["offer"]["offer_id"],
            "option_id": view["offer"]["options"][0]["option_id"],
        },
    )
    assert acted.status_code == 409
    assert "withdrawn" in acted.json()["detail"]


async def test_listing_pages_by_cursor_and_filters_by_status(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "acme")
    ids = []
    for n in range(5):
        body = complaint_body(
            consumer={"name": "顾客", "phone": f"1391234{n:04d}"}, order={"merchant": f"店{n}"}
        )
        ids.append(
            (await intake.client.post("/v1/complaints", json=body, headers=brand)).json()[
                "complaint_id"
            ]
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await intake.client.get("/v1/complaints", params=params, headers=brand)).json()
        seen += [item["complaint_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    received = await intake.client.get(
        "/v1/complaints", params={"status": "received"}, headers=brand
    )
    assert len(received.json()["items"]) == 5
    closed = await intake.client.get("/v1/complaints", params={"status": "closed"}, headers=brand)
    assert closed.json()["items"] == []
    future = await intake.client.get(
        "/v1/complaints", params={"since": "2099-01-01T00:00:00Z"}, headers=brand
    )
    assert future.json()["items"] == []
