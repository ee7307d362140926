"""`aftersales demo`: realistic complaints from the seed cases, walked through the lifecycle."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

# Adapted from the seed cases (../shared/seeds): the 花王 shampoo allergy handled the same
# night [003], a fridge needing on-site repair within 24 h [000], a prepaid bath-house card
# voided after a rename (29 consumers) [003], a TV that failed twice under 三包 [002].
SEED_COMPLAINTS: list[dict[str, Any]] = [
    {
        "title": "Shampoo caused an allergic reaction (花王 case, injury → crisis team)",
        "body": {
            "channel": "phone",
            "consumer": {"name": "林女士", "phone": "13812345678"},
            "product": {"category": "洗发水 shampoo", "model": "Scalp Care 400ml"},
            "order": {"purchase_date": "2026-11-02", "price_fen": 6900, "merchant": "官方旗舰店"},
            "description": "使用洗发水之后头皮发痒并出现红色小颗粒，过敏。",
            "demands": [{"kind": "refund"}, {"kind": "compensation", "amount_fen": 50000}],
            "injury": True,
        },
        "choose": "compensation",
    },
    {
        "title": "Fridge stopped cooling; wants on-site repair (海尔 24 h promise)",
        "body": {
            "channel": "web",
            "consumer": {
                "name": "王先生",
                "phone": "13900001111",
                "address": "上海市浦东新区某路1号",
            },
            "product": {"category": "冰箱 refrigerator", "model": "BCD-470", "serial": "HR2291"},
            "order": {"purchase_date": "2026-06-18", "price_fen": 459900, "merchant": "苏宁"},
            "description": "冰箱不制冷，质量故障，要求上门维修。",
            "demands": [{"kind": "repair"}],
        },
        "choose": "repair",
    },
    {
        "title": "Prepaid bath-house card voided after the shop was renamed (29 consumers)",
        "body": {
            "channel": "regulator",
            "consumer": {"name": "张女士", "phone": "13700002222"},
            "product": {"category": "预付卡 prepaid card", "model": "充值消费卡"},
            "order": {
                "purchase_date": "2026-03-01",
                "price_fen": 100000,
                "merchant": "海兰云天花园式浴场",
            },
            "description": "会所更名后原充值消费卡不能继续使用，要求再充值1000元换新卡。",
            "demands": [{"kind": "refund"}],
            "media_exposure": False,
        },
        "choose": "refund",
    },
]


def run_demo(base: str, api_key: str, admin_token: str, timeout: float = 30.0) -> int:
    headers = {"X-Api-Key": api_key}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        for case in SEED_COMPLAINTS:
            print(f"\n== {case['title']}")
            posted = client.post(
                "/v1/complaints", json=case["body"], headers={"Idempotency-Key": str(uuid.uuid4())}
            )
            if posted.status_code != 201:
                print(f"   could not post: {posted.status_code} {posted.text}")
                return 1
            complaint = posted.json()
            complaint_id = complaint["complaint_id"]
            print(f"   received     {complaint_id} (trace {complaint['trace_id']})")
            offered = _wait_for(client, complaint_id, lambda c: c["offer"] is not None, timeout)
            print(f"   routed to    {offered['handler_id']} ({offered['category']})")
            options = offered["offer"]["options"]
            for option in options:
                print(
                    f"   option       {option['kind']:<13} ¥{option['amount_fen'] / 100:,.2f}"
                    f"  {option['description']}"
                )
            chosen = next((o for o in options if o["kind"] == case["choose"]), options[0])
            acted = client.post(
                f"/v1/complaints/{complaint_id}/consumer-actions",
                json={
                    "action": "accept",
                    "offer_id": offered["offer"]["offer_id"],
                    "option_id": chosen["option_id"],
                },
            )
            if acted.status_code != 202:
                print(f"   could not accept: {acted.status_code} {acted.text}")
                return 1
            print(f"   accepted     {chosen['kind']}")
            done = _wait_for(client, complaint_id, lambda c: c["revisit_due"] is not None, timeout)
            print(f"   revisit due  {done['revisit_due']} (Shanghai working day)")
            history = client.get(f"/v1/complaints/{complaint_id}/history").json()["events"]
            print_history(history)
    return 0


def _wait_for(client: httpx.Client, complaint_id: str, done: Any, timeout: float) -> Any:
    end = time.monotonic() + timeout
    while True:
        complaint = client.get(f"/v1/complaints/{complaint_id}").json()
        if done(complaint):
            return complaint
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting on complaint {complaint_id}: {complaint}")
        time.sleep(0.05)


def print_history(events: list[dict[str, Any]]) -> None:
    print("   history:")
    for e in events:
        cause = (e.get("causation_id") or "-")[:8]
        print(
            f"     {e['occurred_at'][11:23]}  {e['service']:<12} {e['type']:<26}"
            f" trace {e['trace_id'][:8]}…  cause {cause}"
        )
