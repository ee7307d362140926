"""The demo's routing walk: what routing decides, and a promise the scheduler sees broken.

Two scenes on a running platform, both read back from routing's ops API:
- the 花王 allergy complaint written in traditional characters and *without* the injury
  flag [003]: folded to one script, judged a safety case from its words, owned first by the
  desk that took the call (首问负责制) and then by the crisis team, answered deferred;
- a brand's on-site repair promise (Haier's 24 h [000], shortened to seconds so you can
  watch it) that nobody keeps: the `sla` timer breaches it once and escalates the case up
  the brand's chain (handler → supervisor), which the brand's webhooks receive.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

PROMISE_SECONDS = 3


def routing_walk(base: str, routing_url: str, admin_token: str, timeout: float) -> bool:
    """Both scenes; False when the platform answered something it must not."""
    ops = httpx.Client(
        base_url=routing_url.rstrip("/"),
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    with ops:
        brand, key = _brand(base, admin_token)
        if key is None:
            return False
        with httpx.Client(base_url=base, headers={"X-Api-Key": key}, timeout=10) as client:
            return _safety_in_traditional_script(client, ops, timeout) and _broken_promise(
                client, ops, brand, timeout
            )


def _brand(base: str, admin_token: str) -> tuple[str, str | None]:
    """A brand of this run, with its own SLA policy (the demo brand's stays the default)."""
    brand = f"promise-{uuid.uuid4().hex[:6]}"
    registered = httpx.post(
        f"{base}/v1/admin/brands",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={"brand_id": brand, "name": "Demo Fridges 演示冰箱"},
        timeout=10,
    )
    if registered.status_code != 201:
        print(f"   could not register a brand: {registered.status_code} {registered.text}")
        return brand, None
    return brand, str(registered.json()["api_key"])


def _safety_in_traditional_script(
    client: httpx.Client, ops: httpx.Client, timeout: float
) -> bool:
    print("\n== 使用後頭皮過敏 — the 花王 allergy, in traditional script, no injury flag [003]")
    posted = client.post(
        "/v1/complaints",
        json={
            "channel": "phone",
            "received_by": "hotline-desk-07",
            "consumer": {"name": "陳女士", "phone": f"139{uuid.uuid4().int % 10**8:08d}"},
            "product": {"category": "洗髮水 shampoo", "model": "Scalp Care 400ml"},
            "order": {"price_fen": 6900, "merchant": "海蘭雲天百貨"},
            "description": "使用後頭皮過敏，起了紅疹，已經去醫院看了。",
            "demands": [{"kind": "refund"}],
        },
    )
    if posted.status_code != 201:
        print(f"   could not post: {posted.status_code} {posted.text}")
        return False
    complaint_id = posted.json()["complaint_id"]
    case = until(ops, f"/v1/cases/{complaint_id}", lambda c: c.get("mode"), timeout)
    if case is None:
        print("   routing did not decide in time")
        return False
    print(f"   category     {case['category']}  severity {case['severity']}")
    for factor in case["factors"]:
        print(f"   because      {factor}")
    for owner in case["owners"]:
        who = owner.get("desk") or f"{owner.get('team')}/{owner.get('handler_id')}"
        print(f"   owner        {owner['kind']:<14} {who}")
    print(f"   answer       {case['mode']} (callback due {case.get('callback_due') or '-'})")
    sla = ops.get(f"/v1/ops/cases/{complaint_id}/sla").json()
    for clock in sla["clocks"]:
        print(f"   SLA clock    {clock['clause']:<12} {clock['status']:<8} due {clock['due_at']}")
    if case["severity"] != "critical" or case["team"] != "crisis":
        print("   a safety complaint must reach the crisis team")
        return False
    return True


def _broken_promise(client: httpx.Client, ops: httpx.Client, brand: str, timeout: float) -> bool:
    print(f"\n== A promise nobody keeps: on-site repair within {PROMISE_SECONDS} s (Haier's 24 h)")
    default = ops.get(f"/v1/ops/brands/{brand}/sla-policy").json()["policy"]
    promise = {
        "name": "onsite_repair",
        "sources": ["phone", "web", "app"],
        "within": {"seconds": PROMISE_SECONDS},
        "starts_at": "received",
        "met_by": ["RemedyFulfilled"],
        "source_doc": "000 海尔: 24小时上门维修 (shortened for the demo)",
    }
    policy = {**default, "version": f"{brand}-1", "clauses": [*default["clauses"], promise]}
    loaded = ops.put(f"/v1/ops/brands/{brand}/sla-policy", json=policy)
    if loaded.status_code != 200:
        print(f"   could not load the policy: {loaded.status_code} {loaded.text}")
        return False
    print(f"   policy       {brand}-1: the default clauses plus onsite_repair")
    posted = client.post(
        "/v1/complaints",
        json={
            "channel": "phone",
            "consumer": {"name": "周先生", "phone": f"137{uuid.uuid4().int % 10**8:08d}"},
            "product": {"category": "冰箱 refrigerator", "model": "BCD-470"},
            "order": {"price_fen": 459900, "merchant": "苏宁"},
            "description": "冰箱不制冷，要求上门维修。",
            "demands": [{"kind": "repair"}],
        },
    )
    if posted.status_code != 201:
        print(f"   could not post: {posted.status_code} {posted.text}")
        return False
    complaint_id = posted.json()["complaint_id"]
    started = time.monotonic()
    sla = until(
        ops, f"/v1/ops/cases/{complaint_id}/sla", lambda s: s.get("escalation_level"), timeout
    )
    if sla is None:
        print("   no breach seen in time")
        return False
    for clock in sla["clocks"]:
        print(f"   SLA clock    {clock['clause']:<14} {clock['status']:<8} due {clock['due_at']}")
    case = ops.get(f"/v1/cases/{complaint_id}").json()
    print(
        f"   escalated    to the {sla['escalation_level']}: {case['team']}/{case['handler_id']}"
        f" after {time.monotonic() - started:.1f} s (the sla timer; a restart neither loses"
        " nor doubles it)"
    )
    history = client.get(f"/v1/complaints/{complaint_id}/history").json()["events"]
    routing = [e["type"] for e in history if e["service"] == "routing"]
    print(f"   routing      {' → '.join(routing)}")
    return routing.count("SlaBreached") == 1


def until(client: httpx.Client, path: str, done: Any, timeout: float) -> Any:
    """GET `path` until `done(body)` holds (the body), or None after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        response = client.get(path)
        if response.status_code == 200 and done(response.json()):
            return response.json()
        time.sleep(0.1)
    return None
