"""The demo's compensation walk: the law decides what is owed, a supervisor approves it.

Two scenes on a running platform, read back from intake's brand API and compensation's
ops API:
- **主管批示**: a colour TV that failed five days after the sale. The consumer asks for a
  repair; 三包 owes a refund, an exchange or a repair at the consumer's choice in the first
  seven days [002 三包规定]. The refund is above the front-line handler's authority, so the
  offer waits visibly for a supervisor ("awaiting_approval"), who grants it; the consumer
  takes the refund; the handler records it paid, and the brand receives the written notice.
- **消法 第五十五条**: a phone case sold as genuine that was not. A supervisor records the
  fraud finding with its evidence, and the next round offers the refund plus damages of
  three times the price, at least ¥500.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.calendar import business_date
from shared.demo_routing import until
from shared.money import format_fen


def compensation_walk(base: str, compensation_url: str, api_key: str, admin_token: str,
                      timeout: float) -> bool:
    """Both scenes; False when the platform answered something it must not."""
    ops = httpx.Client(
        base_url=compensation_url.rstrip("/"),
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    with ops, httpx.Client(base_url=base, headers={"X-Api-Key": api_key}, timeout=10) as client:
        return _approval(client, ops, timeout) and _fraud(client, ops, timeout)


def _approval(client: httpx.Client, ops: httpx.Client, timeout: float) -> bool:
    print("\n== 主管批示: a TV that failed on day 5; 三包 owes a refund above the handler's limit")
    today = business_date(datetime.now(UTC))
    complaint_id = _post(
        client,
        {
            "channel": "phone",
            "received_by": "hotline-desk-03",
            "consumer": {"name": "赵先生", "phone": f"136{uuid.uuid4().int % 10**8:08d}"},
            "product": {
                "category": "color_tv",
                "model": "55E3",
                "serial": f"TV{uuid.uuid4().hex[:8]}",
            },
            "order": {
                "purchase_date": str(today - timedelta(days=5)),
                "price_fen": 459900,
                "merchant": "国美电器",
                "sale_channel": "in_store",
            },
            "fault_date": str(today - timedelta(days=1)),
            "description": "电视买了五天就黑屏，开不了机，要求上门修理。",
            "demands": [{"kind": "repair"}],
        },
    )
    if complaint_id is None:
        return False
    case = until(ops, f"/v1/cases/{complaint_id}", lambda c: c.get("approvals"), timeout)
    if case is None:
        print("   no approval was asked for in time")
        return False
    approval = case["approvals"][-1]
    status = client.get(f"/v1/complaints/{complaint_id}").json()["status"]
    print(f"   handler      {case['handler_id']} (authority {format_fen(case['authority_fen'])})")
    print(f"   waiting      status {status}: {approval['reason']}")
    for option in approval["options"]:
        _print_option(option)
    decided = ops.post(
        f"/v1/ops/cases/{complaint_id}/approvals/{approval['approval_id']}",
        json={"decision": "grant", "reason": "三包期内性能故障，依法退换"},
    )
    if decided.status_code != 200:
        print(f"   could not approve: {decided.status_code} {decided.text}")
        return False
    print("   approved     by the supervisor: 三包期内性能故障，依法退换")
    offered = until(client, f"/v1/complaints/{complaint_id}", lambda c: c.get("offer"), timeout)
    if offered is None:
        print("   no offer after the approval")
        return False
    options = offered["offer"]["options"]
    for option in options:
        _print_option(option)
    refund = next((o for o in options if o["kind"] == "refund"), None)
    if refund is None:
        print("   the 三包 refund is missing from the offer")
        return False
    acted = client.post(
        f"/v1/complaints/{complaint_id}/consumer-actions",
        json={
            "action": "accept",
            "offer_id": offered["offer"]["offer_id"],
            "option_id": refund["option_id"],
        },
    )
    if acted.status_code != 202:
        print(f"   could not accept: {acted.status_code} {acted.text}")
        return False
    print(f"   accepted     refund {format_fen(refund['amount_fen'])}")
    accepted = until(ops, f"/v1/cases/{complaint_id}", lambda c: c.get("accepted_option"), timeout)
    if accepted is None:
        print("   compensation did not record the acceptance in time")
        return False
    paid = ops.post(
        f"/v1/ops/cases/{complaint_id}/fulfilment",
        json={"option_id": refund["option_id"], "reference": "退款流水 RF-20261125-0001"},
    )
    if paid.status_code != 200:
        print(f"   could not record the refund: {paid.status_code} {paid.text}")
        return False
    done = until(
        client, f"/v1/complaints/{complaint_id}", lambda c: c["status"] == "fulfilled", timeout
    )
    case = ops.get(f"/v1/cases/{complaint_id}").json()
    if done is None or not case.get("fulfilment"):
        print("   the fulfilment did not reach the brand's view in time")
        return False
    print(f"   fulfilled    status {done['status']}: {done['fulfilment']['reference']}")
    print("                (RemedyFulfilled, once); the written")
    print(f"                notice the brand's webhook receives: {case['fulfilment']['notice']}")
    return True


def _fraud(client: httpx.Client, ops: httpx.Client, timeout: float) -> bool:
    print("\n== 消法 第五十五条: a phone case sold as genuine that was not (价格欺诈 [002])")
    today = business_date(datetime.now(UTC))
    complaint_id = _post(
        client,
        {
            "channel": "app",
            "consumer": {"name": "钱女士", "phone": f"135{uuid.uuid4().int % 10**8:08d}"},
            "product": {"category": "phone_accessory", "model": "原装手机壳"},
            "order": {
                "purchase_date": str(today - timedelta(days=20)),
                "price_fen": 12000,
                "merchant": "数码配件旗舰店",
                "sale_channel": "distance",
                "delivery_date": str(today - timedelta(days=17)),
            },
            "description": "宣传是原装正品，收到后经鉴定是仿冒品，要求退款。",
            "demands": [{"kind": "refund"}],
        },
    )
    if complaint_id is None:
        return False
    first = until(ops, f"/v1/cases/{complaint_id}", lambda c: c.get("offer"), timeout)
    if first is None:
        print("   no first offer in time")
        return False
    print(f"   round 1      {len(first['offer']['options'])} options before any finding")
    found = ops.post(
        f"/v1/ops/cases/{complaint_id}/liability",
        json={"finding": "fraud", "evidence": "品牌方鉴定报告：非原装，商品页宣称原装正品"},
    )
    if found.status_code != 200:
        print(f"   could not record the finding: {found.status_code} {found.text}")
        return False
    print("   finding      fraud (supervisor, with the brand's authentication report)")
    case = until(ops, f"/v1/cases/{complaint_id}", lambda c: c.get("approvals"), timeout)
    if case is None:
        print("   the damages did not wait for approval")
        return False
    approval = case["approvals"][-1]
    print(f"   waiting      {approval['reason']}")
    path = f"/v1/ops/cases/{complaint_id}/approvals/{approval['approval_id']}"
    denied = ops.post(path, json={"decision": "deny", "reason": "金额太高"})
    print(f"   deny?        HTTP {denied.status_code}: {denied.json().get('detail', '')}")
    granted = ops.post(path, json={"decision": "grant", "reason": "欺诈属实，依法赔偿"})
    if denied.status_code != 409 or granted.status_code != 200:
        print("   statutory damages must be grantable and never deniable")
        return False
    case = until(
        ops,
        f"/v1/cases/{complaint_id}",
        lambda c: len(c.get("rounds") or []) >= 2 and c.get("offer_status") == "open",
        timeout,
    )
    if case is None:
        print("   no second round after the approval")
        return False
    print(f"   round {len(case['rounds'])}      granted by the supervisor; offered:")
    options = (case.get("offer") or {}).get("options") or []
    for option in options:
        _print_option(option)
    damages = [
        part for o in options for part in [o, *o.get("includes", [])] if part["kind"] == "damages"
    ]
    for part in damages[:1]:
        amount, rule = format_fen(part["amount_fen"]), part["rule_id"]
        print(f"   damages      {amount} {rule}: {part['explanation']}")
    if not damages or any(part["amount_fen"] != 50000 for part in damages):
        print("   damages must be 3 × ¥120.00 = ¥360.00, raised to the ¥500.00 floor")
        return False
    return True


def _post(client: httpx.Client, body: dict[str, Any]) -> str | None:
    posted = client.post("/v1/complaints", json=body)
    if posted.status_code != 201:
        print(f"   could not post: {posted.status_code} {posted.text}")
        return None
    complaint_id = str(posted.json()["complaint_id"])
    print(f"   received     {complaint_id}")
    return complaint_id


def _print_option(option: dict[str, Any]) -> None:
    rule = option.get("rule_id") or "-"
    line = option.get("explanation") or option.get("description") or ""
    amount = format_fen(option["amount_fen"])
    print(f"   option       {option['kind']:<13} {amount:>11}  {rule}: {line}")
