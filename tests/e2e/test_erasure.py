"""Erasure (PIPL) looks everywhere: after a subject's key is destroyed, none of their data is
readable in any store, stream, span, log, webhook delivery log or webhook received.

Issue 17 item 4. A consumer files two complaints whose free text carries their phone (in
several spellings), ID number, e-mail and name, confirms one with a correction, refuses one
offer and counters another with reasons full of personal data, withdraws one; a brand
webhook receives every event. Then the subject is erased and every byte the platform wrote
is searched, while history, the downstream case views and the brand's GET still answer.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import nats
import pytest

from shared.cli import Platform
from shared.security import Role
from shared.settings import Settings
from tests.platform import brand_of_platform, complaint_body, token_for
from tests.servers import NatsServer

NAME, PHONE, EMAIL = "林美华", "13812345678", "lin.meihua@example.com"
ID_NUMBER, ADDRESS = "11010519491231002X", "上海市徐汇区漕溪北路88号"
CONSUMER = {"name": NAME, "phone": PHONE, "id_number": ID_NUMBER, "address": ADDRESS}
# Every form a value could be written in: as typed, spaced, dashed, traditional, upper case.
FORMS = [
    PHONE,
    "138 1234 5678",
    "138-1234-5678",
    NAME,
    "林美華",
    EMAIL,
    EMAIL.upper(),
    ID_NUMBER,
    ID_NUMBER.lower(),
    ADDRESS,
]
HOOKED = [
    "ComplaintReceived",
    "ComplaintDetailsConfirmed",
    "ConsumerActed",
    "ComplaintWithdrawn",
    "OfferRejected",
    "CounterProposalReceived",
]


def encodings(value: str) -> list[bytes]:
    """The bytes `value` has in a file: UTF-8, JSON's \\u escapes, and UTF-16 (either order)."""
    escaped = json.dumps(value)[1:-1]
    forms = {value.encode(), escaped.encode(), escaped.lower().encode()}
    forms |= {value.encode("utf-16-le"), value.encode("utf-16-be")}
    return sorted(forms)


def found_in(raw: bytes) -> list[str]:
    return [value for value in FORMS if any(form in raw for form in encodings(value))]


class Receiver(BaseHTTPRequestHandler):
    """A brand's webhook endpoint: keeps every body it is sent."""

    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        Receiver.bodies.append(self.rfile.read(length))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


@pytest.fixture
def loopback_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver listens on 127.0.0.1: allowed where an allow-list setting exists."""
    monkeypatch.setenv("AFTERSALES_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8")


@pytest.fixture
def platform(loopback_webhooks: None, platform: Platform) -> Platform:
    return platform


def ops(role: Role, brand: str) -> dict[str, str]:
    return token_for(Settings(), (role,), (brand,), sub="dpo", authority_fen=0)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    end = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


def history_types(client: httpx.Client, complaint_id: str) -> set[str]:
    events = client.get(f"/v1/complaints/{complaint_id}/history").json()["events"]
    return {e["type"] for e in events}


def open_offer(client: httpx.Client, complaint_id: str) -> dict[str, Any]:
    def offered() -> Any:
        view = client.get(f"/v1/complaints/{complaint_id}").json()
        return view["offer"] if view["offer_status"] == "open" else None

    offer: dict[str, Any] = wait_for(offered, "an open offer")
    return offer


def file_complaint(client: httpx.Client, description: str, merchant: str) -> str:
    body = complaint_body(consumer=CONSUMER, description=description)
    body["order"] = {"merchant": merchant, "price_fen": 6900, "order_ref": f"{merchant}-1"}
    posted = client.post("/v1/complaints", json=body)
    assert posted.status_code == 201, posted.text
    complaint_id: str = posted.json()["complaint_id"]
    return complaint_id


def consumer_traffic(client: httpx.Client) -> tuple[list[str], str]:
    """Two complaints, a correction, a refusal, a counter, a withdrawal: ids, subject ref."""
    first = file_complaint(
        client,
        f"洗发水用后头皮过敏。我是{NAME}，电话 138 1234 5678，身份证 {ID_NUMBER}，邮箱 {EMAIL}",
        "美发店",
    )
    second = file_complaint(
        client, f"快递丢件，{NAME}（林美華）的手机+86 138-1234-5678，请退款", "快递站"
    )
    confirmed = client.post(
        f"/v1/complaints/{first}/confirmation",
        json={"confirmed_via": "phone", "corrections": {"description": f"头皮红肿，邮件 {EMAIL}"}},
    )
    assert confirmed.status_code == 200, confirmed.text
    offer = open_offer(client, first)
    rejected = client.post(
        f"/v1/complaints/{first}/consumer-actions",
        json={"action": "reject", "offer_id": offer["offer_id"], "reason": f"{NAME}不接受 {PHONE}"},
    )
    assert rejected.status_code == 202, rejected.text
    offer = open_offer(client, second)
    countered = client.post(
        f"/v1/complaints/{second}/consumer-actions",
        json={
            "action": "counter",
            "offer_id": offer["offer_id"],
            "reason": f"身份证{ID_NUMBER}，邮箱{EMAIL}",
            "counter_kind": "refund",
            "counter_amount_fen": 6900,
        },
    )
    assert countered.status_code == 202, countered.text
    withdrawn = client.post(
        f"/v1/complaints/{second}/withdrawal", json={"reason": f"{NAME}已和门店和解"}
    )
    assert withdrawn.status_code == 202, withdrawn.text
    wait_for(lambda: "OfferRejected" in history_types(client, first), "OfferRejected")
    wait_for(
        lambda: {"CounterProposalReceived", "ComplaintWithdrawn"} <= history_types(client, second),
        "the counter-proposal and the withdrawal",
    )
    subject_ref: str = client.get(f"/v1/complaints/{first}").json()["subject_ref"]
    return [first, second], subject_ref


def wrapped_key(data_dir: Path, subject_ref: str) -> bytes:
    with sqlite3.connect(f"file:{data_dir / 'intake-keys.db'}?mode=ro", uri=True) as db:
        row = db.execute("SELECT key FROM subject_keys WHERE subject_id = ?", (subject_ref,))
        found = row.fetchone()
    db.close()
    assert found is not None, "the subject has a key before erasure"
    return bytes(found[0])


async def stream_messages(url: str) -> list[bytes]:
    """Every message of every JetStream stream, headers and data, as stored."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        raw: list[bytes] = []
        for info in await js.streams_info():
            if not info.state.messages:
                continue
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                message = await js.get_msg(info.config.name, seq)
                headers = json.dumps(message.headers or {}, ensure_ascii=False).encode()
                raw.append(message.subject.encode() + headers + (message.data or b""))
        return raw
    finally:
        await client.close()


def files_under(*roots: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file()}


def test_after_erasure_no_personal_data_is_readable_anywhere_and_history_still_reads(
    platform: Platform, nats_server_e2e: NatsServer, receiver: str
) -> None:
    brand = brand_of_platform(platform, "acme")
    with httpx.Client(base_url=platform.url("intake"), headers=brand, timeout=10) as client:
        hook = client.post("/v1/webhooks", json={"url": receiver, "event_types": HOOKED})
        assert hook.status_code == 201, hook.text
        complaints, subject_ref = consumer_traffic(client)
        delivered = wait_for(
            lambda: _deliveries(client, "delivered", 8), "eight webhook deliveries"
        )
        assert len(Receiver.bodies) >= 8
        key = wrapped_key(platform.data_dir, subject_ref)

        erased = httpx.post(
            f"{platform.url('intake')}/v1/ops/subjects/{subject_ref}/erasure",
            headers=ops("admin", "acme"),
            timeout=10,
        )
        assert erased.status_code == 202, erased.text

        # Still answering: history (all four streams), the brand's view, the case views.
        for complaint_id in complaints:
            assert {"ComplaintReceived", "ComplaintClassified", "ApologyIssued"} <= (
                history_types(client, complaint_id)
            )
            own = client.get(f"/v1/complaints/{complaint_id}").json()
            assert own["free_text"] == "redacted", own
            assert "138****5678" in own["description"]
            for service in ("routing", "compensation", "followup"):
                case = httpx.get(
                    f"{platform.url(service)}/v1/cases/{complaint_id}",
                    headers=ops("viewer", "acme"),
                    timeout=10,
                )
                assert case.status_code == 200, (service, case.text)
        delivery_log = client.get("/v1/webhooks/deliveries", params={"limit": 500}).text
    time.sleep(1.5)  # spans are exported in batches: let the last ones reach their files

    places: dict[str, bytes] = files_under(platform.data_dir, nats_server_e2e.store_dir)
    stores = [p for p in places if p.endswith((".db", ".db-wal"))]
    assert len([p for p in stores if p.endswith(".db")]) >= 5, stores  # 4 stores + keys
    assert any("/traces/" in p for p in places)
    assert any(p.endswith(".log") for p in places)
    messages = asyncio.run(stream_messages(nats_server_e2e.url))
    assert len(messages) >= 20
    places |= {f"stream message {n}": m for n, m in enumerate(messages)}
    places |= {f"webhook body {n}": b for n, b in enumerate(Receiver.bodies)}
    places["webhook delivery log"] = delivery_log.encode() + json.dumps(delivered).encode()
    readable = {where: found_in(raw) for where, raw in places.items() if found_in(raw)}
    assert readable == {}, f"personal data readable after erasure: {readable}"
    shredded = [where for where, raw in places.items() if key in raw]
    assert shredded == [], f"the erased subject's key is still in {shredded}"




def _deliveries(client: httpx.Client, status: str, count: int) -> list[dict[str, Any]] | None:
    params: dict[str, Any] = {"status": status, "limit": 500}
    items: list[dict[str, Any]] = client.get("/v1/webhooks/deliveries", params=params).json()[
        "items"
    ]
    return items if len(items) >= count else None
