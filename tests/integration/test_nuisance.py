"""Harassment: nuisance contacts get their own queue, their source can be blocked and counted.

[001 第五篇] nuisance contacts are recognised, moved to their own queue, their source
blocked and counted — never mixed into the real complaints and KPIs.
"""

from __future__ import annotations

from typing import Any

from shared.security import Role
from tests.platform import RunningService, complaint_body, eventually, register_brand, token_for

PHONE = "13600009999"


def ops(role: Role, brand: str) -> dict[str, str]:
    return token_for(None, (role,), (brand,), sub=f"{role}-1", authority_fen=0)


async def contact(intake: RunningService, brand: dict[str, str], n: int) -> Any:
    """One more complaint from the same phone, each about a different order."""
    body = complaint_body(
        consumer={"name": "某人", "phone": PHONE},
        order={"merchant": "门店", "order_ref": f"order-{n}"},
    )
    return await intake.client.post("/v1/complaints", json=body, headers=brand)


async def test_a_sixth_contact_within_24_hours_goes_to_the_nuisance_queue(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "acme")
    responses = [await contact(intake, brand, n) for n in range(6)]

    assert [r.status_code for r in responses] == [201] * 6
    assert [r.json()["nuisance"] for r in responses] == [False] * 5 + [True]
    normal = (await intake.client.get("/v1/complaints", headers=brand)).json()["items"]
    queue = (await intake.client.get("/v1/complaints?queue=nuisance", headers=brand)).json()
    nuisance_id = responses[5].json()["complaint_id"]
    assert len(normal) == 5
    assert nuisance_id not in {c["complaint_id"] for c in normal}
    assert [c["complaint_id"] for c in queue["items"]] == [nuisance_id]

    async def flagged() -> Any:
        path = f"/v1/complaints/{nuisance_id}/history"
        events = (await intake.client.get(path, headers=brand)).json()["events"]
        return next((e for e in events if e["type"] == "NuisanceFlagged"), None)

    event = await eventually(flagged, what="NuisanceFlagged")
    assert event["payload"]["reason"] == "6 contacts within 24 h (more than 5)"
    assert event["payload"]["source_ref"] == responses[0].json()["subject_ref"]


async def test_a_blocked_source_is_refused_and_each_refusal_is_counted(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "acme")
    source = (await contact(intake, brand, 0)).json()["subject_ref"]
    block = f"/v1/ops/sources/{source}/block"
    reason = {"reason": "辱骂客服，反复骚扰"}

    as_handler = await intake.client.post(block, json=reason, headers=ops("handler", "acme"))
    other_brand = await intake.client.post(block, json=reason, headers=ops("supervisor", "globex"))
    blocked = await intake.client.post(block, json=reason, headers=ops("supervisor", "acme"))
    twice = await intake.client.post(block, json=reason, headers=ops("supervisor", "acme"))
    refused = await contact(intake, brand, 1)

    assert as_handler.status_code == 403
    assert other_brand.status_code == 404
    assert blocked.status_code == 200
    assert blocked.json()["blocked"] is True
    assert twice.status_code == 409
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"].startswith("source blocked")
    summary = await intake.client.get(f"/v1/ops/sources/{source}", headers=ops("viewer", "acme"))
    assert summary.json()["refused"] == 1
    assert summary.json()["cases"] == 1
    listed = (await intake.client.get("/v1/complaints", headers=brand)).json()["items"]
    assert len(listed) == 1


async def test_a_source_flagged_by_ops_sends_its_next_complaint_to_the_nuisance_queue(
    service: Any,
) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "acme")
    source = (await contact(intake, brand, 0)).json()["subject_ref"]

    flagged = await intake.client.post(
        f"/v1/ops/sources/{source}/nuisance",
        json={"reason": "恶意投诉"},
        headers=ops("supervisor", "acme"),
    )
    following = await contact(intake, brand, 1)

    assert flagged.status_code == 200
    assert flagged.json()["flagged"] is True
    assert following.status_code == 201
    assert following.json()["nuisance"] is True
