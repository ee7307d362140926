"""Regulator transfers (消协 / 12315 转办): HMAC signed, nonce recorded first, one case per number.

The regulator sets a deadline in working days and expects the outcome reported back
[DOMAIN.md, 002 中消协投诉和解, 003].
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from datetime import datetime
from typing import Any

import pytest

from shared.calendar import add_working_days, business_date, end_of_business_day
from shared.security import (
    NONCE_HEADER,
    REGULATOR_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_request,
)
from tests.platform import RunningService, admin_headers, eventually, register_brand

TRANSFERS = "/v1/regulator/transfers"


async def register_regulator(intake: RunningService, regulator_id: str = "sh-xbw") -> str:
    """Register 上海市消保委; returns its signing secret (shown once)."""
    response = await intake.client.post(
        "/v1/admin/regulators",
        headers=admin_headers(intake),
        json={"regulator_id": regulator_id, "name": "上海市消保委", "kind": "consumer_association"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


def signed(
    secret: str,
    method: str,
    path: str,
    body: bytes = b"",
    regulator_id: str = "sh-xbw",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(12)
    return {
        REGULATOR_HEADER: regulator_id,
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: sign_request(secret.encode(), method, path, timestamp, nonce, body),
        "Content-Type": "application/json",
    }


def transfer_body(brand_id: str, number: str = "沪消保委-2026-0001", **overrides: Any) -> bytes:
    """The prepaid bath-house card voided after a rename, as 消保委 transferred it [003]."""
    body: dict[str, Any] = {
        "transfer_number": number,
        "deadline_working_days": 7,
        "brand_id": brand_id,
        "complaint": {
            "consumer": {"name": "张女士", "phone": "13700002222"},
            "product": {"category": "预付卡 prepaid card", "model": "充值消费卡"},
            "order": {"price_fen": 100000, "merchant": "海兰云天花园式浴场"},
            "description": "会所更名后原充值消费卡不能继续使用，要求再充值1000元换新卡。",
            "demands": [{"kind": "refund"}],
        },
    }
    body.update(overrides)
    return json.dumps(body, ensure_ascii=False).encode()


async def post_transfer(intake: RunningService, secret: str, raw: bytes, **sign: Any) -> Any:
    headers = signed(secret, "POST", TRANSFERS, raw, **sign)
    return await intake.client.post(TRANSFERS, content=raw, headers=headers)


async def test_a_signed_transfer_becomes_one_complaint_with_the_transfer_in_its_history(
    service: Any,
) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)

    posted = await post_transfer(intake, secret, transfer_body("bathhouse"))
    assert posted.status_code == 201, posted.text
    transfer = posted.json()
    assert transfer["transfer_number"] == "沪消保委-2026-0001"
    assert transfer["outcome"] is None
    received = datetime.fromisoformat(transfer["received_at"])
    due = end_of_business_day(add_working_days(business_date(received), 7))
    assert datetime.fromisoformat(transfer["deadline_at"]) == due  # working days, 调休 aware

    complaint_id = transfer["complaint_id"]
    complaint = (await intake.client.get(f"/v1/complaints/{complaint_id}", headers=brand)).json()
    assert complaint["channel"] == "regulator"
    assert complaint["regulator"]["regulator_id"] == "sh-xbw"

    async def history() -> Any:
        path = f"/v1/complaints/{complaint_id}/history"
        events = (await intake.client.get(path, headers=brand)).json()["events"]
        return events if len(events) >= 2 else None

    events = await eventually(history, what="the transfer's history")
    assert [e["type"] for e in events] == ["ComplaintReceived", "RegulatorTransferReceived"]
    assert events[0]["payload"]["regulator"]["transfer_number"] == "沪消保委-2026-0001"
    assert events[1]["payload"]["regulator_name"] == "上海市消保委"

    path = f"{TRANSFERS}/沪消保委-2026-0001"
    status = await intake.client.get(path, headers=signed(secret, "GET", path))
    assert status.status_code == 200, status.text
    assert status.json()["complaint_id"] == complaint_id
    assert status.json()["outcome"] is None


async def test_the_same_transfer_number_twice_is_one_complaint(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)

    first = await post_transfer(intake, secret, transfer_body("bathhouse"))
    again = await post_transfer(intake, secret, transfer_body("bathhouse"))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["complaint_id"] == first.json()["complaint_id"]
    listed = (await intake.client.get("/v1/complaints", headers=brand)).json()["items"]
    assert [c["complaint_id"] for c in listed] == [first.json()["complaint_id"]]


async def test_every_refused_regulator_request_looks_alike_and_the_reason_is_logged(
    service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 17: unknown ids, bad signatures, stale times, malformed or missing headers and
    replayed nonces get one status and one body, so a prober learns nothing from them."""
    intake = await service("intake")
    await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    raw = transfer_body("bathhouse")
    malformed = signed(secret, "POST", TRANSFERS, raw, nonce="short")
    caplog.set_level(logging.WARNING, logger="aftersales.regulators")

    forged = await post_transfer(intake, "not-the-secret", raw)
    stale = await post_transfer(intake, secret, raw, timestamp=int(time.time()) - 301)
    unknown = await post_transfer(intake, secret, raw, regulator_id="nobody")
    headers = signed(secret, "POST", TRANSFERS, raw)
    accepted = await intake.client.post(TRANSFERS, content=raw, headers=headers)
    replayed = await intake.client.post(TRANSFERS, content=raw, headers=headers)
    unsigned = await intake.client.post(TRANSFERS, content=raw)
    shapeless = await intake.client.post(TRANSFERS, content=raw, headers=malformed)
    bad_time = {**headers, TIMESTAMP_HEADER: "yesterday"}
    not_a_time = await intake.client.post(TRANSFERS, content=raw, headers=bad_time)

    assert accepted.status_code == 201, accepted.text
    refusals = (forged, stale, unknown, replayed, unsigned, shapeless, not_a_time)
    for refused in refusals:
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert len({r.content for r in refusals}) == 1, [r.text for r in refusals]
    assert "authenticated" in forged.json()["detail"]
    reasons = [r.getMessage() for r in caplog.records if r.name == "aftersales.regulators"]
    for reason in (
        "bad signature",
        "stale timestamp",
        "unknown regulator",
        "nonce already used",
        "missing headers",
        "malformed",
    ):
        assert any(f"reason='{reason}" in line for line in reasons), (reason, reasons)
    assert not any(headers[SIGNATURE_HEADER] in line or secret in line for line in reasons)


async def test_a_transfer_naming_an_unknown_brand_is_refused_naming_the_field(
    service: Any,
) -> None:
    intake = await service("intake")
    secret = await register_regulator(intake)

    response = await post_transfer(intake, secret, transfer_body("no-such-brand"))

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["detail"].startswith("brand_id:")
    assert problem["errors"][0]["loc"] == ["body", "brand_id"]


async def test_registering_a_regulator_needs_the_admin_role(service: Any) -> None:
    intake = await service("intake")
    body = {"regulator_id": "sh-12315", "name": "12315 上海", "kind": "market_regulator"}

    anonymous = await intake.client.post("/v1/admin/regulators", json=body)
    assert anonymous.status_code == 401
    admin = admin_headers(intake)
    registered = await intake.client.post("/v1/admin/regulators", json=body, headers=admin)
    assert registered.status_code == 201
    assert len(registered.json()["secret"]) >= 32
    twice = await intake.client.post("/v1/admin/regulators", json=body, headers=admin)
    assert twice.status_code == 409
