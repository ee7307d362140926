"""Ops endpoints of every service check the same signed bearer token, scoped to brands."""

from __future__ import annotations

import base64
import hmac
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from shared.security import OpsClaims, Role, issue_ops_token, verify_ops_token
from shared.settings import DEV_SECRET, Settings
from tests.platform import complaint_body, eventually, register_brand, start_service, token_for


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


async def test_tokens_of_another_issuer_or_audience_or_too_long_a_life_are_refused(
    service: Any,
) -> None:
    routing = await service("routing")
    settings = routing.runtime.settings
    now = int(time.time())

    def minted(**overrides: Any) -> dict[str, str]:
        fields: dict[str, Any] = {
            "iss": settings.token_issuer,
            "aud": settings.token_audience,
            "sub": "ops-user",
            "roles": ("supervisor",),
            "brands": ("*",),
            "authority_fen": 0,
            "iat": now,
            "exp": now + 600,
            **overrides,
        }
        token = issue_ops_token(settings.token_key.encode(), OpsClaims(**fields))
        return {"Authorization": f"Bearer {token}"}

    path = "/v1/ops/dead-letters"
    assert (await routing.client.get(path, headers=minted())).status_code == 200
    for overrides, reason in (
        ({"iss": "someone-else"}, "wrong issuer"),
        ({"aud": "aftersales-portal"}, "wrong audience"),
        ({"exp": now + settings.token_max_ttl_s + 1}, "lifetime over the maximum"),
        ({"iat": now + 3600, "exp": now + 4000}, "issued in the future"),
    ):
        refused = await routing.client.get(path, headers=minted(**overrides))
        assert refused.status_code == 401, overrides
        assert refused.json()["detail"] == f"the bearer token is not valid: {reason}"
    claims = minted()["Authorization"].split()[1].split(".")
    payload = json.loads(base64.urlsafe_b64decode(claims[1] + "=="))
    del payload["aud"]
    unsigned = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    signing_input = f"{claims[0]}.{unsigned}"
    signature = hmac.new(settings.token_key.encode(), signing_input.encode(), "sha256").digest()
    no_audience = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    missing = await routing.client.get(path, headers={"Authorization": f"Bearer {no_audience}"})
    assert missing.json()["detail"] == "the bearer token is not valid: invalid claims"


async def test_the_static_admin_token_works_only_in_development(settings: Settings) -> None:
    admin = {"Authorization": f"Bearer {settings.admin_token}"}
    assert settings.environment == "test"
    for environment, status in (("test", 401), ("production", 401), ("development", 200)):
        changed = settings.model_copy(update={"environment": environment})
        running = await start_service("routing", changed)
        try:
            response = await running.client.get("/v1/ops/dead-letters", headers=admin)
            assert response.status_code == status, (environment, response.text)
        finally:
            await running.stop()


async def test_a_token_from_the_cli_round_trips(service: Any) -> None:
    routing = await service("routing")
    settings = routing.runtime.settings
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")},
        "AFTERSALES_ENVIRONMENT": "test",
        "AFTERSALES_TOKEN_KEY": settings.token_key,
    }
    argv = [sys.executable, "-m", "shared.cli", "token", "issue", "--role", "supervisor"]

    def issue(*more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*argv, *more], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    minted = issue("--brand", "acme", "--brand", "globex", "--ttl", "8h", "--sub", "li")
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    claims = verify_ops_token(settings.token_key.encode(), token, int(time.time()))
    assert (claims.sub, claims.roles, claims.brands) == ("li", ("supervisor",), ("acme", "globex"))
    assert claims.exp - claims.iat == 8 * 3600
    headers = {"Authorization": f"Bearer {token}"}
    assert (await routing.client.get("/v1/ops/dead-letters", headers=headers)).status_code == 200
    too_long = issue("--brand", "*", "--ttl", "13h")
    assert too_long.returncode == 2
    assert "AFTERSALES_TOKEN_MAX_TTL_S" in too_long.stderr
    assert "Traceback" not in too_long.stderr


def test_a_service_refuses_to_start_on_development_secrets_unless_development_is_declared(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    env["AFTERSALES_DATA_DIR"] = str(tmp_path)
    argv = [sys.executable, "-m", "uvicorn", "--factory", "services.routing.main:build"]
    for environment in (None, "test", "production"):
        run_env = env if environment is None else {**env, "AFTERSALES_ENVIRONMENT": environment}
        started = subprocess.run(
            [*argv, "--port", "0"], env=run_env, capture_output=True, text=True, timeout=60
        )
        assert started.returncode == 2, (environment, started.stderr)
        for name in ("TOKEN_KEY", "PII_MASTER_KEY", "PII_INDEX_KEY"):
            assert f"AFTERSALES_{name}" in started.stderr, (environment, started.stderr)
        assert "AFTERSALES_ENVIRONMENT=development" in started.stderr
        assert "Traceback" not in started.stderr
        assert DEV_SECRET not in started.stderr
