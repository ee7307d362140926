"""Repeats are linked to the open complaint; many consumers against one merchant form a group.

Group complaints from the seeds: 29 consumers against one prepaid-card bath house, 78
against one fruit-voucher company [003].
"""

from __future__ import annotations

from typing import Any

from tests.platform import RunningService, complaint_body, eventually, register_brand


async def history_types(
    intake: RunningService, brand: dict[str, str], complaint_id: str, wanted: str
) -> list[dict[str, Any]]:
    async def check() -> Any:
        path = f"/v1/complaints/{complaint_id}/history"
        events = (await intake.client.get(path, headers=brand)).json()["events"]
        return events if any(e["type"] == wanted for e in events) else None

    found: list[dict[str, Any]] = await eventually(check, what=f"{wanted} in the history")
    return found


async def test_the_same_consumer_about_the_same_order_twice_is_linked_not_a_second_case(
    service: Any,
) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "haier")
    order = {"merchant": "苏宁", "order_ref": "SN-2026-0618-77"}
    first = await intake.client.post(
        "/v1/complaints", json=complaint_body(order=order), headers=brand
    )
    again = await intake.client.post(
        "/v1/complaints",
        headers=brand,
        json=complaint_body(channel="phone", order=order, description="又打电话：冰箱还是不制冷。"),
    )

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    first_id = first.json()["complaint_id"]
    assert again.json()["complaint_id"] == again.json()["duplicate_of"] == first_id
    linked = again.json()["duplicates"]
    assert [d["matched_fields"] for d in linked] == [["consumer.phone", "order.order_ref"]]
    listed = (await intake.client.get("/v1/complaints", headers=brand)).json()["items"]
    assert [c["complaint_id"] for c in listed] == [first_id]

    events = await history_types(intake, brand, first_id, "DuplicateLinked")
    duplicate = next(e for e in events if e["type"] == "DuplicateLinked")
    assert duplicate["payload"]["matched_fields"] == ["consumer.phone", "order.order_ref"]
    assert duplicate["payload"]["channel"] == "phone"


async def test_a_repeat_after_the_complaint_was_withdrawn_is_a_new_case(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "haier")
    first = (
        await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    ).json()["complaint_id"]
    withdrawn = await intake.client.post(
        f"/v1/complaints/{first}/withdrawal", json={"reason": "已自行解决"}, headers=brand
    )
    assert withdrawn.status_code == 202

    again = await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)

    assert again.status_code == 201
    assert again.json()["complaint_id"] != first


async def test_29_consumers_against_one_bath_house_form_one_group_with_every_member_linked(
    service: Any,
) -> None:
    """[003] 29 consumers' prepaid cards voided after 海兰云天花园式浴场 was renamed."""
    intake = await service("intake")
    brand = await register_brand(intake, "bathhouse")
    ids: list[str] = []
    group_ids: list[str | None] = []
    for n in range(29):
        body = complaint_body(
            consumer={"name": f"消费者{n}", "phone": f"137{n:08d}"},
            product={"category": "预付卡 prepaid card", "model": "充值消费卡"},
            order={"merchant": "海兰云天 花园式浴场", "price_fen": 100000},
            description="会所更名后原充值消费卡不能继续使用。",
            demands=[{"kind": "refund"}],
        )
        posted = await intake.client.post("/v1/complaints", json=body, headers=brand)
        assert posted.status_code == 201, posted.text
        ids.append(posted.json()["complaint_id"])
        group_ids.append(posted.json()["group_id"])

    assert group_ids[:2] == [None, None], "two consumers are not yet a group"
    group_id = group_ids[2]
    assert group_id is not None
    assert set(group_ids[2:]) == {group_id}

    group = (await intake.client.get(f"/v1/groups/{group_id}", headers=brand)).json()
    assert group["member_count"] == group["consumer_count"] == 29
    assert [m["complaint_id"] for m in group["members"]] == ids
    for complaint_id in ids:
        complaint = await intake.client.get(f"/v1/complaints/{complaint_id}", headers=brand)
        assert complaint.json()["group_id"] == group_id

    earliest = await history_types(intake, brand, ids[0], "GroupComplaintLinked")
    latest = await history_types(intake, brand, ids[-1], "GroupComplaintLinked")
    linked_first = next(e for e in earliest if e["type"] == "GroupComplaintLinked")
    linked_last = next(e for e in latest if e["type"] == "GroupComplaintLinked")
    assert linked_first["payload"]["member_count"] == 3  # linked when the group formed
    assert linked_last["payload"]["member_count"] == 29
    assert linked_last["payload"]["group_id"] == group_id
    received_last = next(e for e in latest if e["type"] == "ComplaintReceived")
    assert received_last["payload"]["group_id"] == group_id  # routing raises its severity

    other = await register_brand(intake, "another-brand")
    assert (await intake.client.get(f"/v1/groups/{group_id}", headers=other)).status_code == 404


async def test_complaints_routed_before_their_group_formed_are_reassessed_as_high(
    service: Any,
) -> None:
    """The group raises severity downstream, also for members routed before it formed."""
    intake = await service("intake")
    await service("routing")
    brand = await register_brand(intake, "fruitbox")
    ids = []
    for n in range(3):  # [003] 78 consumers' fruit vouchers from 上海吉谷商贸 not honoured
        body = complaint_body(
            consumer={"name": f"消费者{n}", "phone": f"136{n:08d}"},
            product={"category": "礼盒券 voucher"},
            order={"merchant": "上海吉谷商贸"},
            description="进口鲜果礼盒券不能兑现，以茶叶代替。",
            demands=[{"kind": "refund"}],
        )
        ids.append(
            (await intake.client.post("/v1/complaints", json=body, headers=brand)).json()[
                "complaint_id"
            ]
        )

    async def first_reassessed() -> Any:
        events = await history_types(intake, brand, ids[0], "SeverityAssessed")
        assessed = [e for e in events if e["type"] == "SeverityAssessed"]
        return assessed if len(assessed) == 2 else None

    assessed = await eventually(first_reassessed, what="the first member reassessed")
    assert assessed[0]["payload"]["severity"] == "normal"
    assert assessed[1]["payload"]["severity"] == "high"
    # each factor listed with its measure: the group's size when the member was reassessed
    assert "group complaint (3 consumers)" in assessed[1]["payload"]["factors"]
