"""Every ops and admin route of every service honours the token's brands (issue 17, 1-2).

A brand-scoped admin acts only on its own brand; a listing shows only the token's
brands; an object of another brand is 404 with the body of a missing one; a role too
low is 403. Dead letters are real ones (poison published upstream, dead-lettered by
the real consumers), keyset-paged, and their errors carry no payload value.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.store import derive_id
from tests.integration.test_consumer import received
from tests.platform import (
    RunningService,
    admin_headers,
    eventually,
    ops_token,
    register_brand,
)

PII = "13812345678"
SERVICES = ("intake", "routing", "compensation", "followup")


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def test_a_brand_scoped_admin_acts_only_on_its_own_brand(service: Any) -> None:
    intake = await service("intake")
    await register_brand(intake, "acme")
    await register_brand(intake, "globex")
    acme_admin = ops_token(intake, ("admin",), ("acme",))
    client = intake.client

    other = await client.post("/v1/admin/brands/globex/keys", headers=acme_admin)
    missing = await client.post("/v1/admin/brands/no-such-brand/keys", headers=acme_admin)
    other_body, missing_body = _problem(other, 404), _problem(missing, 404)
    assert other_body["detail"].replace("globex", "X") == missing_body["detail"].replace(
        "no-such-brand", "X"
    )
    assert {k: v for k, v in other_body.items() if k not in ("detail", "instance")} == {
        k: v for k, v in missing_body.items() if k not in ("detail", "instance")
    }
    globex_key_id = (await _brands(intake))["globex"]["active_keys"][0]
    revoke = await client.delete(
        f"/v1/admin/brands/globex/keys/{globex_key_id}", headers=acme_admin
    )
    _problem(revoke, 404)
    assert (await _brands(intake))["globex"]["active_keys"] == [globex_key_id]  # untouched

    listed = await client.get("/v1/admin/brands", headers=acme_admin)
    assert [b["brand_id"] for b in listed.json()] == ["acme"]
    assert (await client.post("/v1/admin/brands/acme/keys", headers=acme_admin)).status_code == 201

    register = await client.post(
        "/v1/admin/brands", headers=acme_admin, json={"brand_id": "initech", "name": "Initech"}
    )
    assert "all brands" in _problem(register, 403)["detail"]
    regulator = await client.post(
        "/v1/admin/regulators",
        headers=acme_admin,
        json={"regulator_id": "sh-12315", "name": "12315", "kind": "market_regulator"},
    )
    _problem(regulator, 403)
    supervisor = ops_token(intake, ("supervisor",), ("*",))
    _problem(await client.get("/v1/admin/brands", headers=supervisor), 403)  # role too low
    assert set(await _brands(intake)) == {"acme", "globex"}


async def _brands(intake: RunningService) -> dict[str, Any]:
    listed = await intake.client.get("/v1/admin/brands", headers=admin_headers(intake))
    assert listed.status_code == 200, listed.text
    return {b["brand_id"]: b for b in listed.json()}


async def test_ops_history_of_another_brands_complaint_is_not_found(service: Any) -> None:
    intake = await service("intake")
    acme = await register_brand(intake, "acme")
    posted = await intake.client.post(
        "/v1/complaints",
        headers=acme,
        json={
            "channel": "web",
            "consumer": {"name": "王先生", "phone": "13900001111"},
            "product": {"category": "冰箱 refrigerator"},
            "description": "冰箱不制冷",
            "demands": [{"kind": "repair"}],
        },
    )
    path = f"/v1/ops/complaints/{posted.json()['complaint_id']}/history"

    async def history() -> Any:
        response = await intake.client.get(path, headers=ops_token(intake, ("viewer",), ("acme",)))
        return response if response.status_code == 200 else None

    assert (await eventually(history)).json()["events"]
    other = await intake.client.get(path, headers=ops_token(intake, ("viewer",), ("globex",)))
    missing = await intake.client.get(
        f"/v1/ops/complaints/{uuid.uuid4()}/history", headers=admin_headers(intake)
    )
    assert _problem(other, 404)["type"] == _problem(missing, 404)["type"]


def _poison(subject_service: str, event_type: str, brand: str) -> tuple[str, bytes]:
    """A message of `brand` whose payload breaks its contract and carries a phone number."""
    event = json.loads(received(brand_id=brand).to_json())
    complaint_id = str(uuid.uuid4())
    event.update(
        event_id=str(uuid.uuid4()),
        complaint_id=complaint_id,
        correlation_id=complaint_id,
        type=event_type,
        service=subject_service,
        schema_version="1.0",  # a version every type reads: the payload is what is wrong
    )
    event["payload"] = {"channel": PII, "note": f"call me on {PII}"}
    subject = f"{subject_service}.{brand}.{complaint_id}.{event_type}"
    return subject, json.dumps(event).encode()


async def _dead_letters(svc: RunningService, headers: dict[str, str], **query: Any) -> Any:
    response = await svc.client.get("/v1/ops/dead-letters", headers=headers, params=query)
    assert response.status_code == 200, response.text
    assert PII not in response.text
    return response.json()


async def test_dead_letters_on_every_service_show_only_the_tokens_brands(service: Any) -> None:
    running = {name: await service(name) for name in SERVICES}
    js = (await running["intake"].admin_bus()).js
    for brand in ("acme", "globex", "acme"):
        subject, data = _poison("intake", "ComplaintReceived", brand)
        await js.publish(subject, data, stream="INTAKE")
        subject, data = _poison("routing", "HandlerAssigned", brand)
        await js.publish(subject, data, stream="ROUTING")

    poisoned = {"intake": 2, "routing": 1, "compensation": 2, "followup": 1}  # upstreams hit

    async def settled(svc: RunningService) -> Any:
        page = await _dead_letters(svc, admin_headers(svc))
        return page if len(page["items"]) >= 3 * poisoned[svc.name] else None

    for name, svc in running.items():
        everything = await eventually(lambda svc=svc: settled(svc), what=f"{name} dead letters")
        brands = [d["brand_id"] for d in everything["items"]]
        assert sorted(brands) == sorted(["acme", "acme", "globex"] * poisoned[name]), name
        for letter in everything["items"]:
            assert letter["error"].startswith("ContractError: the payload does not match"), letter
        acme = await _dead_letters(svc, ops_token(svc, ("supervisor",), ("acme",)))
        assert [d["brand_id"] for d in acme["items"]] == ["acme"] * 2 * poisoned[name], name
        assert all(".acme." in d["subject"] for d in acme["items"])
        globex = await _dead_letters(svc, ops_token(svc, ("supervisor",), ("globex",)))
        assert [d["brand_id"] for d in globex["items"]] == ["globex"] * poisoned[name], name
        handler = await svc.client.get(
            "/v1/ops/dead-letters", headers=ops_token(svc, ("handler",), ("*",))
        )
        _problem(handler, 403)


async def test_dead_letters_page_with_a_cursor_filtered_by_brand(service: Any) -> None:
    routing = await service("routing")
    await (await routing.admin_bus()).ensure_own_streams("intake")
    js = (await routing.admin_bus()).js
    brands = ["acme", "globex", "acme", "acme", "globex", "acme", "acme"]
    for brand in brands:
        subject, data = _poison("intake", "ComplaintReceived", brand)
        await js.publish(subject, data, stream="INTAKE")
    admin = admin_headers(routing)

    async def all_letters() -> Any:
        page = await _dead_letters(routing, admin, limit=500)
        return page if len(page["items"]) == len(brands) else None

    await eventually(all_letters, what="7 dead letters")

    async def walk(headers: dict[str, str], limit: int) -> tuple[list[Any], int]:
        seen, cursor, pages = [], None, 0
        while True:
            query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            page = await _dead_letters(routing, headers, **query)
            pages += 1
            assert len(page["items"]) <= limit
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen, pages
            assert pages < 20, "the cursor does not advance"

    every, pages = await walk(admin, 2)
    assert [d["sequence"] for d in every] == list(range(1, 8))
    assert pages >= 4
    acme, _ = await walk(ops_token(routing, ("supervisor",), ("acme",)), 2)
    assert [d["sequence"] for d in acme] == [i + 1 for i, b in enumerate(brands) if b == "acme"]
    bad = await routing.client.get("/v1/ops/dead-letters?cursor=x", headers=admin)
    _problem(bad, 422)



async def test_a_case_read_with_a_dead_letter_id_or_any_non_case_id_is_404(service: Any) -> None:
    running = [await service(name) for name in ("routing", "compensation", "followup")]
    admin = await running[0].admin_bus()
    await admin.ensure_own_streams("intake")
    subject, data = _poison("intake", "ComplaintReceived", "acme")
    await admin.js.publish(subject, data, stream="INTAKE")
    letter_id = derive_id("dead-letter", "INTAKE", 1)
    for svc in running:
        application = svc.runtime.application

        async def recorded(application: Any = application) -> bool:
            return application.get_or_none(letter_id) is not None

        await eventually(recorded, what=f"{svc.name} dead letter")
        for not_a_case in (letter_id, uuid.uuid4()):
            case = await svc.client.get(f"/v1/cases/{not_a_case}", headers=admin_headers(svc))
            _problem(case, 404)
