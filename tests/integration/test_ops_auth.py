"""Ops endpoints of every service check the same signed bearer token, scoped to brands."""

from __future__ import annotations

import time
from typing import Any

from shared.security import OpsClaims, Role, issue_ops_token
from tests.platform import complaint_body, eventually, register_brand, token_for


def token(roles: tuple[Role, ...], brands: tuple[str, ...], ttl: int = 600) -> dict[str, str]:
    return token_for(None, roles, brands, ttl=ttl)


async def test_a_viewer_sees_only_the_brands_in_their_token(service: Any) -> None:
    intake = await service("intake")
    routing = await service("routing")
    brand = await register_brand(intake, "acme")
    posted = await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    complaint_id = posted.json()["complaint_id"]
    path = f"/v1/cases/{complaint_id}"

    async def routed() -> Any:
        response = await routing.client.get(path, headers=token(("viewer",), ("acme",)))
        return response if response.status_code == 200 else None

    assert (await eventually(routed)).json()["handler_id"]
    other_brand = await routing.client.get(path, headers=token(("supervisor",), ("globex",)))
    assert other_brand.status_code == 404
    assert other_brand.headers["content-type"] == "application/problem+json"
    assert (await routing.client.get(path)).status_code == 401
    expired = await routing.client.get(path, headers=token(("viewer",), ("acme",), ttl=-1))
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


async def test_admin_endpoints_need_the_admin_role(service: Any) -> None:
    intake = await service("intake")
    handler = token(("handler",), ("*",))
    response = await intake.client.post(
        "/v1/admin/brands", headers=handler, json={"brand_id": "acme", "name": "Acme"}
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "this needs the admin role"
    forged = {
        "Authorization": "Bearer "
        + issue_ops_token(
            b"x" * 40,
            OpsClaims(
                iss="aftersales",
                aud="aftersales-ops",
                sub="mallory",
                roles=("admin",),
                brands=("*",),
                authority_fen=0,
                iat=int(time.time()),
                exp=int(time.time()) + 60,
            ),
        )
    }
    assert (await intake.client.get("/v1/admin/brands", headers=forged)).status_code == 401


async def test_brands_cannot_see_each_others_complaints(service: Any) -> None:
    intake = await service("intake")
    acme = await register_brand(intake, "acme")
    globex = await register_brand(intake, "globex")
    posted = await intake.client.post("/v1/complaints", json=complaint_body(), headers=acme)
    complaint_id = posted.json()["complaint_id"]
    for path in (f"/v1/complaints/{complaint_id}", f"/v1/complaints/{complaint_id}/history"):
        response = await intake.client.get(path, headers=globex)
        assert response.status_code == 404, path
    acted = await intake.client.post(
        f"/v1/complaints/{complaint_id}/consumer-actions",
        headers=globex,
        json={"action": "reject", "offer_id": "x", "reason": "no"},
    )
    assert acted.status_code == 404
    listed = await intake.client.get("/v1/complaints", headers=globex)
    assert listed.json()["items"] == []
    assert (
        await intake.client.get("/v1/complaints", headers={"X-Api-Key": "ask_x_y"})
    ).status_code == 401


async def test_bad_input_gets_problem_details_naming_the_field(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "acme")
    bad_phone = complaint_body(consumer={"name": "王", "phone": "12345"})
    response = await intake.client.post("/v1/complaints", json=bad_phone, headers=brand)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "consumer.phone" in response.json()["detail"]
    huge = complaint_body(description="坏" * 100_000)  # ~300 KB of UTF-8
    assert (await intake.client.post("/v1/complaints", json=huge, headers=brand)).status_code == 413
    first = await intake.client.post(
        "/v1/complaints", json=complaint_body(), headers={**brand, "Idempotency-Key": "k1"}
    )
    again = await intake.client.post(
        "/v1/complaints", json=complaint_body(), headers={**brand, "Idempotency-Key": "k1"}
    )
    assert first.status_code == again.status_code == 201
    assert first.json()["complaint_id"] == again.json()["complaint_id"]
    changed = await intake.client.post(
        "/v1/complaints",
        json=complaint_body(description="别的"),
        headers={**brand, "Idempotency-Key": "k1"},
    )
    assert changed.status_code == 409
    listed = await intake.client.get("/v1/complaints", headers=brand)
    assert len(listed.json()["items"]) == 1
