"""`aftersales demo`: realistic complaints from the seed cases, walked through the lifecycle."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from shared.demo_compensation import compensation_walk
from shared.demo_routing import routing_walk
from shared.demo_security import security_walk

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


def _this_run(phone: str, run: int) -> str:
    """A phone number of this demo run: reruns are new consumers, not duplicates."""
    return f"{phone[:3]}{run:04d}{phone[-4:]}"


def run_demo(
    base: str,
    api_key: str,
    admin_token: str,
    scoped_token: Callable[[str], str],
    timeout: float = 30.0,
    routing_url: str | None = None,
    compensation_url: str | None = None,
) -> int:
    headers = {"X-Api-Key": api_key}
    run = uuid.uuid4().int % 10_000
    for case in SEED_COMPLAINTS:
        consumer = case["body"]["consumer"]
        case["body"] = {
            **case["body"],
            "consumer": {**consumer, "phone": _this_run(consumer["phone"], run)},
        }
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        brand_id = _lifecycle(client, timeout)
        if brand_id is None:
            return 1
        _duplicate(client)
        _group(client, run)
        _regulator_transfer(base, admin_token, brand_id, run)
        if routing_url is not None:
            _escalation(client, routing_url, admin_token, timeout)
    if routing_url is not None and not routing_walk(base, routing_url, admin_token, timeout):
        print("\n   routing did not decide as it must (above)")
        return 1
    if compensation_url is not None and not compensation_walk(
        base, compensation_url, api_key, admin_token, timeout
    ):
        print("\n   compensation did not answer as it must (above)")
        return 1
    if not security_walk(base, api_key, brand_id, admin_token, scoped_token):
        print("\n   the platform answered something it must not (above)")
        return 1
    return 0


def _lifecycle(client: httpx.Client, timeout: float) -> str | None:
    """The seed complaints from receipt to a scheduled revisit; returns the brand id."""
    brand_id = None
    for case in SEED_COMPLAINTS:
        print(f"\n== {case['title']}")
        posted = client.post(
            "/v1/complaints", json=case["body"], headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        if posted.status_code != 201:
            print(f"   could not post: {posted.status_code} {posted.text}")
            return None
        complaint = posted.json()
        brand_id = complaint["brand_id"]
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
            return None
        print(f"   accepted     {chosen['kind']}")
        done = _wait_for(client, complaint_id, lambda c: c["revisit_due"] is not None, timeout)
        print(f"   revisit due  {done['revisit_due']} (Shanghai working day)")
        history = client.get(f"/v1/complaints/{complaint_id}/history").json()["events"]
        print_history(history)
    return brand_id


def _duplicate(client: httpx.Client) -> None:
    """The same consumer calls again about the same order: linked, not a second case."""
    print("\n== The fridge owner calls again about the same order (duplicate)")
    body = {
        **SEED_COMPLAINTS[1]["body"],
        "channel": "phone",
        "description": "还是不制冷，上次的投诉有进展吗？",
    }
    again = client.post("/v1/complaints", json=body).json()
    print(
        f"   linked to    {again.get('duplicate_of') or again['complaint_id']} "
        f"(no second case; status {again['status']})"
    )


def _group(client: httpx.Client, run: int) -> None:
    """[003] 29 consumers against one renamed bath house form one group complaint."""
    print("\n== 29 consumers' prepaid cards voided by a renamed bath house (group complaint)")
    merchant = f"阿狄丽娜国际会所 {uuid.uuid4().hex[:4]}"
    group_id = None
    for n in range(29):
        posted = client.post(
            "/v1/complaints",
            json={
                "channel": "phone",
                "consumer": {"name": f"消费者{n}", "phone": f"138{run:04d}{n:04d}"},
                "product": {"category": "预付卡 prepaid card", "model": "充值消费卡"},
                "order": {"price_fen": 100000, "merchant": merchant},
                "description": "浴场更名后原充值消费卡作废，要求再充值1000元换新卡。",
                "demands": [{"kind": "refund"}],
            },
        ).json()
        group_id = posted.get("group_id") or group_id
    if group_id:
        group = client.get(f"/v1/groups/{group_id}").json()
        print(
            f"   group        {group_id}: {group['member_count']} members "
            "(severity raised downstream)"
        )


def _regulator_transfer(base: str, admin_token: str, brand_id: str, run: int) -> None:
    """A 消保委 transfer, HMAC-signed; sent twice, it is still one complaint."""
    import hashlib
    import hmac
    import json
    import os
    from datetime import datetime

    from shared.calendar import SHANGHAI

    print("\n== A transfer from the consumer association (消保委 转办), signed")
    regulator_id = f"sh-xbw-{uuid.uuid4().hex[:6]}"
    registered = httpx.post(
        f"{base}/v1/admin/regulators",
        timeout=10,
        headers={"Authorization": f"Bearer {admin_token}"},
        json={"regulator_id": regulator_id, "name": "上海市消保委", "kind": "consumer_association"},
    )
    if registered.status_code != 201:
        print(f"   could not register the regulator: {registered.status_code}")
        return
    secret = registered.json()["secret"].encode()
    transfer = {
        "transfer_number": f"SH-2026-{uuid.uuid4().hex[:6]}",
        "deadline_working_days": 10,
        "transferred_on": "2026-09-18",  # the Friday before the National Day 调休 Sunday
        "brand_id": brand_id,
        "complaint": {
            "consumer": {"name": "詹女士", "phone": _this_run("13600003333", run)},
            "product": {"category": "美容美发卡 beauty card"},
            "order": {"price_fen": 300000, "merchant": "富美圣柯达"},
            "description": "承诺优惠，结果不优惠，要求退还预付款。",
            "demands": [{"kind": "refund"}],
        },
    }
    body = json.dumps(transfer, ensure_ascii=False).encode()
    for attempt in (1, 2):
        timestamp, nonce = str(int(time.time())), os.urandom(12).hex()
        path = "/v1/regulator/transfers"
        signed = f"POST\n{path}\n{timestamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}"
        headers = {
            "Content-Type": "application/json",
            "X-Aftersales-Regulator": regulator_id,
            "X-Aftersales-Timestamp": timestamp,
            "X-Aftersales-Nonce": nonce,
            "X-Aftersales-Signature": hmac.new(secret, signed.encode(), "sha256").hexdigest(),
        }
        response = httpx.post(f"{base}{path}", content=body, headers=headers, timeout=10)
        if response.status_code not in (200, 201):
            print(f"   transfer refused: {response.status_code} {response.text}")
            return
        answer = response.json()
        print(
            f"   sent #{attempt}      HTTP {response.status_code} → complaint "
            f"{answer['complaint_id']}"
        )
    print("   the same transfer number twice is one complaint; deadline counts China working days")
    due = datetime.fromisoformat(answer["deadline_at"]).astimezone(SHANGHAI)
    print(
        f"   transferred on {answer['transferred_on']} + 10 working days → due {due:%Y-%m-%d %H:%M}"
        " Shanghai (调休 Sunday 9/20 worked; 中秋 9/25–27 and 国庆 10/1–7 off)"
    )


def _escalation(client: httpx.Client, routing_url: str, admin_token: str, timeout: float) -> None:
    """A handler escalates a case the first handler cannot resolve (store manager or a senior
    [003]; 三变法 [002]): handler → supervisor, an `Escalated` event the brand's webhooks get."""
    print("\n== A handler escalates a repair dispute to the supervisor (handler → supervisor)")
    body = {
        **SEED_COMPLAINTS[1]["body"],
        "consumer": {"name": "赵先生", "phone": f"135{uuid.uuid4().int % 10**8:08d}"},
        "product": {"category": "洗衣机 washing machine", "serial": f"WM{uuid.uuid4().hex[:6]}"},
        "description": "洗衣机第二次上门维修后仍漏水，要求主管处理。",
    }
    posted = client.post("/v1/complaints", json=body)
    if posted.status_code != 201:
        print(f"   could not post: {posted.status_code} {posted.text}")
        return
    complaint_id = posted.json()["complaint_id"]
    _wait_for(client, complaint_id, lambda c: c["handler_id"] is not None, timeout)
    escalated = httpx.post(
        f"{routing_url.rstrip('/')}/v1/ops/cases/{complaint_id}/escalate",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={"reason": "两次维修未果，换人处理（三变法）"},
        timeout=10,
    )
    if escalated.status_code != 200:
        print(f"   could not escalate: {escalated.status_code} {escalated.text}")
        return
    clocks = escalated.json()["clocks"]
    print(f"   escalated to {escalated.json()['escalation_level']}")
    for clock in clocks:
        print(f"   SLA clock    {clock['clause']:<20} {clock['status']:<8} due {clock['due_at']}")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        history = client.get(f"/v1/complaints/{complaint_id}/history").json()["events"]
        if any(e["type"] == "Escalated" for e in history):
            print_history(history)
            return
        time.sleep(0.1)


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
