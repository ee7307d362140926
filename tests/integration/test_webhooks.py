"""Webhooks to brand portals (issue 4): signed, retried, logged, never blocking the flow.

A real HTTP receiver on 127.0.0.1 fails each delivery's first two attempts, and holds
the very first ones open until the test has seen the complaint flow move on.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import Any

import pytest

from shared.security import WEBHOOK_SIGNATURE_HEADER, verify_webhook
from shared.settings import Settings
from tests.platform import complaint_body, eventually, register_brand, serving

EVENT_TYPES = ["ComplaintReceived", "HandlerAssigned"]
# Webhook targets must be public; the tests' receivers listen on loopback (issue 17).
LOCAL_RECEIVERS = {"webhook_allow_networks": (IPv4Network("127.0.0.0/8"),)}


@dataclass
class Received:
    path: str
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A minimal HTTP/1.1 endpoint: 500 for each delivery's first `failures` attempts."""

    failures: int = 2
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[Received] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        _, path, _ = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        delivery_id = headers.get("x-aftersales-delivery-id", "")
        self.attempts[delivery_id] += 1
        if self.attempts[delivery_id] == 1:
            await self.gate.wait()  # the first attempt hangs until the test lets it go
        status = 500 if self.attempts[delivery_id] <= self.failures else 200
        self.requests.append(Received(path, status, headers, body))
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Retries in tens of milliseconds instead of seconds; receivers on 127.0.0.1 allowed."""
    return settings.model_copy(update={"webhook_base_delay_s": 0.05, **LOCAL_RECEIVERS})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serving(receiver.handle) as receiver.port:
        yield receiver
        receiver.gate.set()


async def test_delivery_is_signed_retried_logged_and_never_blocks_the_flow(
    service: Any, receiver: Receiver
) -> None:
    intake = await service("intake")
    await service("routing")
    brand = await register_brand(intake, "webhook-brand")
    other = await register_brand(intake, "other-brand")

    created = await intake.client.post(
        "/v1/webhooks",
        headers=brand,
        json={"url": receiver.url("/mine"), "event_types": EVENT_TYPES},
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"].encode()
    subscription_id = created.json()["id"]
    theirs = await intake.client.post(
        "/v1/webhooks",
        headers=other,
        json={"url": receiver.url("/theirs"), "event_types": EVENT_TYPES},
    )
    assert theirs.status_code == 201, theirs.text
    listed = (await intake.client.get("/v1/webhooks", headers=brand)).json()
    assert [w["id"] for w in listed] == [subscription_id]
    assert "secret" not in listed[0]

    posted = await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    assert posted.status_code == 201, posted.text
    complaint_id = posted.json()["complaint_id"]

    async def assigned() -> Any:
        body = (await intake.client.get(f"/v1/complaints/{complaint_id}", headers=brand)).json()
        return body["status"] == "assigned"

    async def deliveries(headers: dict[str, str], status: str | None = None) -> list[Any]:
        params = {"status": status} if status else {}
        response = await intake.client.get(
            "/v1/webhooks/deliveries", headers=headers, params=params
        )
        assert response.status_code == 200, response.text
        items: list[Any] = response.json()["items"]
        return items

    # While the first attempt hangs at the receiver, routing goes on and intake keeps
    # consuming: the flow reaches "assigned" and the second delivery is scheduled.
    await eventually(assigned, what="the complaint assigned while the webhook hangs")
    scheduled = await eventually(
        lambda: _when(deliveries(brand), lambda d: len(d) == 2), what="two deliveries scheduled"
    )
    assert {d["event_type"] for d in scheduled} == set(EVENT_TYPES)
    assert all(d["status"] == "pending" for d in scheduled)
    receiver.gate.set()

    delivered = await eventually(
        lambda: _when(deliveries(brand, "delivered"), lambda d: len(d) == 2),
        what="both deliveries delivered",
    )
    for entry in delivered:
        assert entry["attempts"] == 3
        assert [a["status_code"] for a in entry["history"]] == [500, 500, 200]
        assert entry["last_status_code"] == 200
        assert entry["next_attempt_at"] is None

    successes = [r for r in receiver.requests if r.status == 200]
    assert len(successes) == 2
    for request in successes:
        signature = request.headers[WEBHOOK_SIGNATURE_HEADER.lower()]
        assert verify_webhook(secret, signature, request.body, now=int(time.time()))
        assert not verify_webhook(b"not-the-secret", signature, request.body, int(time.time()))
        contract = json.loads(request.body)
        assert contract["complaint_id"] == complaint_id
        assert contract["type"] == request.headers["x-aftersales-event-type"]
        assert contract["event_id"] == request.headers["x-aftersales-event-id"]
    assert {r.path for r in receiver.requests} == {"/mine"}, "the other brand got nothing"
    assert await deliveries(other) == []

    gone = await intake.client.delete(f"/v1/webhooks/{subscription_id}", headers=other)
    assert gone.status_code == 404, "another brand's webhook is not found"
    gone = await intake.client.delete(f"/v1/webhooks/{subscription_id}", headers=brand)
    assert gone.status_code == 204
    assert (await intake.client.get("/v1/webhooks", headers=brand)).json() == []


async def test_registration_refuses_unknown_event_types_and_non_http_urls(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "webhook-brand")
    for body in (
        {"url": "http://127.0.0.1:9/x", "event_types": ["NoSuchEvent"]},
        {"url": "ftp://127.0.0.1/x", "event_types": ["ComplaintReceived"]},
        {"url": "http://127.0.0.1:9/x", "event_types": []},
    ):
        response = await intake.client.post("/v1/webhooks", headers=brand, json=body)
        assert response.status_code == 422, response.text
    anonymous = await intake.client.get("/v1/webhooks/deliveries")
    assert anonymous.status_code == 401


async def _when(items: Any, ready: Any) -> Any:
    found = await items
    return found if ready(found) else None
