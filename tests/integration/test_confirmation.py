"""Step 1 read-back: the record is read back to the consumer, who confirms or corrects it.

[001 第五篇, 003 三部曲] record who, when, against whom and what, then read it back.
"""

from __future__ import annotations

from typing import Any

from tests.platform import complaint_body, eventually, register_brand


async def test_a_confirmed_read_back_is_recorded_with_its_corrections(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "haier")
    complaint_id = (
        await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    ).json()["complaint_id"]

    confirmed = await intake.client.post(
        f"/v1/complaints/{complaint_id}/confirmation",
        headers=brand,
        json={"confirmed_via": "phone", "corrections": {"product.serial": "HR2292"}},
    )

    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["confirmed"] is True
    assert confirmed.json()["corrections"] == {"product.serial": "HR2292"}

    async def recorded() -> Any:
        path = f"/v1/complaints/{complaint_id}/history"
        events = (await intake.client.get(path, headers=brand)).json()["events"]
        return next((e for e in events if e["type"] == "ComplaintDetailsConfirmed"), None)

    event = await eventually(recorded, what="ComplaintDetailsConfirmed")
    assert event["payload"]["confirmed_via"] == "phone"
    assert event["payload"]["corrections"] == {"product.serial": "HR2292"}


async def test_consumer_details_cannot_be_corrected_through_the_event_log(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "haier")
    complaint_id = (
        await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    ).json()["complaint_id"]

    pii = await intake.client.post(
        f"/v1/complaints/{complaint_id}/confirmation",
        headers=brand,
        json={"confirmed_via": "phone", "corrections": {"consumer.phone": "13900002222"}},
    )

    assert pii.status_code == 422
    assert "corrections" in pii.json()["detail"]


async def test_a_withdrawn_complaint_cannot_be_confirmed(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "haier")
    complaint_id = (
        await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    ).json()["complaint_id"]
    await intake.client.post(
        f"/v1/complaints/{complaint_id}/withdrawal", json={"reason": "不投诉了"}, headers=brand
    )

    refused = await intake.client.post(
        f"/v1/complaints/{complaint_id}/confirmation",
        json={"confirmed_via": "phone"},
        headers=brand,
    )

    assert refused.status_code == 409
    assert "withdrawn" in refused.json()["detail"]
