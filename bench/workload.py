"""What the bench sends: complaint bodies, pre-encoded requests, signed regulator transfers."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

from bench.loadgen import Connection, Response
from shared.security import (
    NONCE_HEADER,
    REGULATOR_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_request,
)

PHONE_SLOT, MERCHANT_SLOT = "@@PHONE@@", "@@MERCHANT@@"
DETAILS: dict[str, Any] = {
    "consumer": {"name": "王先生", "phone": PHONE_SLOT},
    "product": {"category": "冰箱 refrigerator", "model": "BCD-470", "serial": "HR2291"},
    "order": {"purchase_date": "2026-06-18", "price_fen": 459900, "merchant": MERCHANT_SLOT},
    "description": "冰箱不制冷，质量故障，要求上门维修。",
    "demands": [{"kind": "repair"}],
}


def phone(run: int, n: int) -> str:
    """A valid mainland mobile number, distinct per (run, n) for n < 1,000,000."""
    return f"138{(run % 100) * 1_000_000 + n % 1_000_000:08d}"


def _template() -> tuple[bytes, bytes, bytes]:
    body = json.dumps({"channel": "web", **DETAILS}, ensure_ascii=False, separators=(",", ":"))
    head, rest = body.split(PHONE_SLOT)
    middle, tail = rest.split(MERCHANT_SLOT)
    return head.encode(), middle.encode(), tail.encode()


def complaint_bodies(run: int, start: int = 0) -> Iterator[bytes]:
    """Distinct consumers and merchants: every body is a new complaint (201), no duplicates."""
    head, middle, tail = _template()
    for n in count(start):
        yield b"".join((head, phone(run, n).encode(), middle, f"门店{run}-{n}".encode(), tail))


def post_requests(url_authority: str, api_key: str, bodies: Iterator[bytes]) -> Iterator[bytes]:
    """`POST /v1/complaints` requests, head pre-encoded: only the body changes."""
    head = (
        f"POST /v1/complaints HTTP/1.1\r\nHost: {url_authority}\r\nX-Api-Key: {api_key}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    for body in bodies:
        yield head + str(len(body)).encode() + b"\r\n\r\n" + body


def transfer(run: int, n: int, brand_id: str) -> dict[str, Any]:
    details = json.loads(
        json.dumps(DETAILS, ensure_ascii=False)
        .replace(PHONE_SLOT, phone(run, n))
        .replace(MERCHANT_SLOT, f"门店{run}-{n}")
    )
    return {
        "transfer_number": f"B{run}-{n}",
        "deadline_working_days": 15,
        "brand_id": brand_id,
        "complaint": details,
    }


def write_transfers(path: Path, run: int, total: int, brand_id: str) -> None:
    """N regulator transfers, one JSON object a line (NDJSON)."""
    with path.open("w", encoding="utf-8") as out:
        for n in range(total):
            out.write(json.dumps(transfer(run, n, brand_id), ensure_ascii=False) + "\n")


def signed_headers(
    regulator_id: str, secret: str, method: str, path: str, body: bytes
) -> dict[str, str]:
    """The headers of a request signed like POST /v1/regulator/transfers."""
    timestamp, nonce = int(time.time()), secrets.token_hex(16)
    signature = sign_request(secret.encode(), method, path, timestamp, nonce, body)
    return {
        REGULATOR_HEADER: regulator_id,
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature,
    }


BATCH_PATH = "/v1/regulator/transfers/batch"


async def send_batch(
    connection: Connection, regulator_id: str, secret: str, items: list[dict[str, Any]]
) -> Response:
    """POST /v1/regulator/transfers/batch, signed like POST /v1/regulator/transfers."""
    body = json.dumps({"transfers": items}, ensure_ascii=False).encode()
    headers = signed_headers(regulator_id, secret, "POST", BATCH_PATH, body)
    return await connection.request("POST", BATCH_PATH, body, headers)


async def batch_missing(connection: Connection, regulator_id: str, secret: str) -> str:
    """Why the batch endpoint is not there ("" when it is): an empty batch is sent first,
    since a large body to a missing route is refused as too large before routing."""
    response = await send_batch(connection, regulator_id, secret, [])
    if response.status in (404, 405):
        return f"not available: POST {BATCH_PATH} answered {response.status}"
    return ""
