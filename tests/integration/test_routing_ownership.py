"""Ownership over real NATS, stores and HTTP: first contact, assignment, severity raised,
reassign / hand over / transfer with role and brand checks, rosters loaded, queues, replay.

Rules: 首问负责制 [003 "whoever receives it owns it until handed to a named handler"];
三变法 [002 "change the person, the place or the time"]; three response modes [002];
group complaints of 29 and 78 consumers and repeat complaints raise severity [DOMAIN.md 3].
"""

from __future__ import annotations

from typing import Any

from services.routing.roster import DEFAULT_ROSTER
from shared.replay import verify_replay
from shared.settings import Settings, application_secrets, persistence_env
from tests.platform import (
    SPECS,
    RunningService,
    complaint_body,
    eventually,
    ops_token,
    register_brand,
)

FRIDGE = {"merchant": "苏宁", "order_ref": "SN-2026-0618-77", "price_fen": 459900}


async def routed_case(
    routing: RunningService, brand: str, complaint_id: str, **wanted: Any
) -> dict[str, Any]:
    headers = ops_token(routing, ("viewer",), (brand,))

    async def check() -> dict[str, Any] | None:
        response = await routing.client.get(f"/v1/cases/{complaint_id}", headers=headers)
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        if body["handler_id"] is None or any(body.get(k) != v for k, v in wanted.items()):
            return None
        return body

    return await eventually(check, what=f"case {complaint_id} routed with {wanted}")


async def post(intake: RunningService, key: dict[str, str], **overrides: Any) -> str:
    response = await intake.client.post(
        "/v1/complaints", json=complaint_body(**overrides), headers=key
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["complaint_id"])


async def history(intake: RunningService, key: dict[str, str], complaint_id: str) -> list[Any]:
    url = f"/v1/complaints/{complaint_id}/history"
    events: list[Any] = (await intake.client.get(url, headers=key)).json()["events"]
    return events


def verify(name: str, settings: Settings) -> Any:
    env = {**persistence_env(name, settings), **application_secrets(settings)}
    return verify_replay(name, SPECS[name].application, env)


async def test_ownership_end_to_end_and_replay_is_exact(service: Any, settings: Settings) -> None:
    intake = await service("intake")
    routing = await service("routing")
    key = await register_brand(intake, "haier")
    other_key = await register_brand(intake, "kao")

    # 首问负责制 [003]: the receiving desk owns it, then a named handler with authority.
    first = await post(
        intake, key, received_by="hotline-desk-2", order=FRIDGE, demands=[{"kind": "refund"}]
    )
    case = await routed_case(routing, "haier", first)
    assert case["owners"][0] == {
        "kind": "first_contact",
        "desk": "hotline-desk-2",
        "channel": "web",
    }
    assert case["owner_kind"] == "handler"
    # A ¥4,599 refund is beyond frontline (¥500) and senior (¥2,000): up the chain.
    assert (case["team"], case["handler_id"]) == ("crisis", "crisis-lead-liu")
    assert case["mode"] == "deferred"
    events = await eventually(
        lambda: _with(intake, key, first, "ResponseModeChosen"), what="routing's events"
    )
    types = [e["type"] for e in events]
    assert types.index("FirstContactOwned") < types.index("HandlerAssigned")
    assigned = next(e for e in events if e["type"] == "HandlerAssigned")
    assert assigned["payload"]["from_owner"] == "desk:hotline-desk-2"
    assert assigned["payload"]["roster_version"] == "default-1"
    mode = next(e for e in events if e["type"] == "ResponseModeChosen")["payload"]
    assert mode["answer_by"]
    assert mode["callback_due"]

    # A repeat contact (DuplicateLinked) raises severity, and the owner with it.
    repair = {**FRIDGE, "order_ref": "SN-2026-0618-88"}
    li = {"name": "李女士", "phone": "13900002222"}
    second = await post(intake, key, order=repair, consumer=li)
    before = await routed_case(routing, "haier", second, team="frontline")
    await post(
        intake,
        key,
        channel="phone",
        order=repair,
        consumer=li,
        description="又打电话：冰箱还是不制冷。",
    )
    raised = await routed_case(routing, "haier", second, severity="high")
    assert raised["team"] == "senior"
    assert raised["handler_id"] != before["handler_id"]
    assert any(f.startswith("repeat complaint (1") for f in raised["factors"])
    assert raised["owners"][-1]["kind"] == "severity_raised"

    # Reassign (supervisor) with 三变法 [002]; role and brand checks; 409 on authority.
    supervisor = ops_token(routing, ("supervisor",), ("haier",), sub="supervisor-zhou")
    url = f"/v1/ops/cases/{second}/reassign"
    change = {
        "to_handler": "senior-chen",
        "change": "place",
        "reason": "到门店面谈",
        "place": "南京路门店经理室",
    }
    other = ops_token(routing, ("supervisor",), ("kao",))
    viewer = ops_token(routing, ("viewer",), ("haier",))
    assert (await routing.client.post(url, json=change, headers=other)).status_code == 404
    assert (await routing.client.post(url, json=change, headers=viewer)).status_code == 403
    no_place = await routing.client.post(url, json={**change, "place": None}, headers=supervisor)
    assert no_place.status_code == 422, no_place.text
    no_time = {"to_handler": "senior-zhao", "change": "time", "reason": "晚上再联系"}
    assert (await routing.client.post(url, json=no_time, headers=supervisor)).status_code == 422
    unknown = {"to_handler": "nobody", "reason": "x"}
    refused = await routing.client.post(url, json=unknown, headers=supervisor)
    assert refused.status_code == 409
    assert "roster" in refused.json()["detail"]
    weak = await routing.client.post(
        f"/v1/ops/cases/{first}/reassign",
        json={"to_handler": "handler-li", "reason": "x"},
        headers=supervisor,
    )
    assert weak.status_code == 409, weak.text
    assert "fen" in weak.json()["detail"]
    moved = await routing.client.post(url, json=change, headers=supervisor)
    assert moved.status_code == 200, moved.text
    assert moved.json()["handler_id"] == "senior-chen"
    later = {"to_handler": "senior-chen", "change": "time", "reason": "约定晚上",
             "contact_at": "2026-10-09T12:00:00+08:00"}  # fmt: skip
    assert (await routing.client.post(url, json=later, headers=supervisor)).status_code == 200

    # Handover (handler) to a colleague of the same team only.
    handler = ops_token(routing, ("handler",), ("haier",), sub="senior-chen")
    handover = f"/v1/ops/cases/{second}/handover"
    away = await routing.client.post(
        handover, json={"to_handler": "crisis-lead-liu", "reason": "x"}, headers=handler
    )
    assert away.status_code == 409, away.text
    colleague = {"to_handler": "senior-zhao", "reason": "休假交接"}
    assert (await routing.client.post(handover, json=colleague, headers=viewer)).status_code == 403
    handed = await routing.client.post(handover, json=colleague, headers=handler)
    assert handed.status_code == 200
    assert handed.json()["handler_id"] == "senior-zhao"

    async def brand_sees_zhao() -> dict[str, Any] | None:  # intake's status feed follows
        seen = (await intake.client.get(f"/v1/complaints/{second}", headers=key)).json()
        return seen if seen["handler_id"] == "senior-zhao" else None

    await eventually(brand_sees_zhao, what="the brand's view naming the new owner")

    # A callback promised, kept even with no news [000]: only for a time still to come.
    callback = f"/v1/ops/cases/{second}/callback"
    soon = {"callback_at": "2099-01-02T10:00:00+08:00", "reason": "检测结果出来前先回电"}
    promised = await routing.client.post(callback, json=soon, headers=handler)
    assert promised.status_code == 200, promised.text
    past = {**soon, "callback_at": "2020-01-02T10:00:00+08:00"}
    assert (await routing.client.post(callback, json=past, headers=handler)).status_code == 409
    promised_case = await routed_case(routing, "haier", second)
    assert promised_case["callback_due"] == "2099-01-02T02:00:00+00:00"

    # Transfer: outside our remit, to the receiving party [002].
    transfer = {"receiving_party": "顺丰速运客服", "reason": "物流丢件由承运方处理"}
    moved_out = await routing.client.post(
        f"/v1/ops/cases/{first}/transfer", json=transfer, headers=handler
    )
    assert moved_out.status_code == 200
    assert moved_out.json()["mode"] == "transfer"
    again = await routing.client.post(
        f"/v1/ops/cases/{first}/transfer", json=transfer, headers=handler
    )
    assert again.status_code == 409

    # A roster loaded over HTTP changes new assignments only.
    admin = ops_token(routing, ("admin",), ("haier",))
    document = DEFAULT_ROSTER.model_dump(mode="json")
    document["version"] = "haier-2026-10"
    document["teams"][0]["handlers"] = [
        {"id": "haier-desk-1", "display_name": "Desk 1", "authority_fen": 100_000}
    ]
    bad = {**document, "escalation_chain": ["frontline", "nowhere"]}
    refused_roster = await routing.client.put(
        "/v1/ops/brands/haier/roster", json=bad, headers=admin
    )
    assert refused_roster.status_code == 422
    assert "escalation_chain" in refused_roster.text
    foreign = await routing.client.put(
        "/v1/ops/brands/kao/roster", json=document, headers=admin
    )
    assert foreign.status_code == 404
    loaded = await routing.client.put("/v1/ops/brands/haier/roster", json=document, headers=admin)
    assert loaded.status_code == 200, loaded.text
    shown = await routing.client.get("/v1/ops/brands/haier/roster", headers=viewer)
    assert shown.json()["source"] == "loaded"
    assert shown.json()["version"] == "haier-2026-10"
    elsewhere = {**FRIDGE, "merchant": "国美", "order_ref": "GM-3"}
    zhao = {"name": "赵", "phone": "13900003333"}
    third = await post(intake, key, order=elsewhere, consumer=zhao)
    new = await routed_case(routing, "haier", third)
    assert (new["team"], new["handler_id"]) == ("frontline", "haier-desk-1")
    still = await routed_case(routing, "haier", first)
    assert still["handler_id"] == "crisis-lead-liu", "assignments made before stay"

    # Queues: most urgent first, a page at a time, brand-scoped.
    kao = await post(intake, other_key, consumer={"name": "钱", "phone": "13900004444"})
    await routed_case(routing, "kao", kao)
    pages: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await routing.client.get("/v1/ops/queues", params=params, headers=viewer)).json()
        pages += [item["complaint_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert set(pages) == {first, second, third}
    assert len(pages) == 3
    assert pages[0] == second, "the high case before the normal ones"
    by_handler = await routing.client.get(
        "/v1/ops/queues", params={"handler": "senior-zhao"}, headers=viewer
    )
    assert [i["complaint_id"] for i in by_handler.json()["items"]] == [second]
    bad_cursor = await routing.client.get(
        "/v1/ops/queues", params={"cursor": "nonsense"}, headers=viewer
    )
    assert bad_cursor.status_code == 422

    report = verify("routing", settings)
    assert report.exact, [str(d) for d in report.differences]
    assert report.inputs >= 11  # 4 received, 1 repeat, 5 ops commands, 1 roster


async def _with(
    intake: RunningService, key: dict[str, str], complaint_id: str, wanted: str
) -> list[Any] | None:
    events = await history(intake, key, complaint_id)
    return events if any(e["type"] == wanted for e in events) else None


async def test_a_group_growing_past_the_threshold_goes_to_the_crisis_team(
    service: Any, settings: Settings
) -> None:
    """29 consumers against one bath house [003]: at 20 the group is a crisis."""
    intake = await service("intake")
    routing = await service("routing")
    key = await register_brand(intake, "bathhouse")
    ids = []
    for n in range(20):
        ids.append(
            await post(
                intake,
                key,
                consumer={"name": f"消费者{n}", "phone": f"137{n:08d}"},
                product={"category": "预付卡 prepaid card"},
                order={"merchant": "海兰云天 花园式浴场", "price_fen": 100000},
                description="会所更名后原充值消费卡不能继续使用。",
                demands=[{"kind": "repair"}],
            )
        )
    earliest = await routed_case(routing, "bathhouse", ids[0], severity="critical")
    assert earliest["team"] == "crisis", "every member follows the group past the threshold"
    kinds = [o["kind"] for o in earliest["owners"]]
    assert kinds.count("severity_raised") == 2, "senior when the group formed, then crisis"
    assert "group complaint (20 consumers)" in earliest["factors"]
    assert earliest["mode"] == "deferred", "answered now at first; a crisis needs investigating"
    last = await routed_case(routing, "bathhouse", ids[-1], severity="critical")
    assert last["team"] == "crisis"
    assert [o["kind"] for o in last["owners"]][:2] == ["first_contact", "assigned"]
    assert last["owners"][-1]["kind"] == "severity_raised"
    assert "group complaint (20 consumers)" in last["factors"]
    report = verify("routing", settings)
    assert report.exact, [str(d) for d in report.differences]


async def test_a_regulator_transfer_is_owned_by_the_regulator_desk(service: Any) -> None:
    from tests.integration.test_regulator_transfers import (
        post_transfer,
        register_regulator,
        transfer_body,
    )

    intake = await service("intake")
    routing = await service("routing")
    await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    posted = await post_transfer(intake, secret, transfer_body("bathhouse"))
    assert posted.status_code == 201, posted.text
    case = await routed_case(routing, "bathhouse", posted.json()["complaint_id"])
    assert case["owners"][0]["desk"] == "regulator-desk"
    assert "regulator transfer" in case["factors"]


async def test_intake_records_who_took_the_contact_and_the_media_reach(service: Any) -> None:
    """首问负责制 [003]: `received_by` is a desk or employee id (never a name: not PII);
    media exposure graded by reach [004]. Both travel in ComplaintReceived 1.1."""
    intake = await service("intake")
    routing = await service("routing")
    key = await register_brand(intake, "kao")
    for bad in ({"received_by": "张三"}, {"received_by": "a b"}, {"media_reach": "galactic"}):
        refused = await intake.client.post(
            "/v1/complaints", json=complaint_body(**bad), headers=key
        )
        assert refused.status_code == 422, bad
        assert next(iter(bad)) in refused.text
    complaint_id = await post(
        intake, key, received_by="store-0412", media_exposure=True, media_reach="national"
    )
    case = await routed_case(routing, "kao", complaint_id)
    assert case["desk"] == "store-0412"
    assert case["severity"] == "critical"
    assert "media or social exposure (national reach)" in case["factors"]
    events = await history(intake, key, complaint_id)
    received = next(e for e in events if e["type"] == "ComplaintReceived")["payload"]
    assert (received["received_by"], received["media_reach"]) == ("store-0412", "national")
