"""Body limits over a real HTTP server: chunked, length-less and lying bodies get 413.

Issue 17: a `Transfer-Encoding: chunked` body over the limit got 400 (FastAPI turns the
error raised while it reads a body into "There was an error parsing the body"). Raw
sockets, because HTTP clients will not send a body that disagrees with its headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from services.intake.bulk import BATCH_PATH
from shared.service import MAX_BODY_BYTES
from tests.platform import complaint_body, register_brand
from tests.servers import free_port

pytestmark = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@pytest.fixture(params=["httptools", "h11"])
async def intake_port(request: pytest.FixtureRequest, service: Any) -> AsyncIterator[Any]:
    """The intake app (already started) behind a real uvicorn on 127.0.0.1, and its brand."""
    intake = await service("intake")
    brand = await register_brand(intake, "acme")
    port = free_port()
    config = uvicorn.Config(
        intake.app, host="127.0.0.1", port=port, http=request.param, lifespan="off"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield port, brand
    server.should_exit = True
    await serving


async def exchange(
    port: int, head: bytes, body: bytes, answered_after: int | None = None
) -> tuple[int, dict[str, Any] | None]:
    """Send a request as raw bytes; (status, problem body or None).

    The first `answered_after` bytes of the body go before the response is read, the rest
    after it (into a connection the server may have closed: so its answer is not lost to
    a reset).
    """
    cut = len(body) if answered_after is None else answered_after
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + b"\r\n" + body[:cut])
        head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status_line, _, header_lines = head_bytes.partition(b"\r\n")
        headers = dict(
            (k.strip().lower(), v.strip())
            for k, _, v in (line.partition(b":") for line in header_lines.split(b"\r\n"))
            if k
        )
        payload = await reader.readexactly(int(headers.get(b"content-length", b"0")))
        with contextlib.suppress(OSError):
            writer.write(body[cut:])
            await writer.drain()
    finally:
        writer.close()
    status = int(status_line.split()[1])
    problem = headers.get(b"content-type") == b"application/problem+json"
    return status, json.loads(payload) if problem else None


def request_head(path: str, brand: dict[str, str], *headers: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: intake",
        "Content-Type: application/json",
        "Connection: close",
        *(f"{k}: {v}" for k, v in brand.items()),
        *headers,
    ]
    return "".join(f"{line}\r\n" for line in lines).encode()


def chunked(body: bytes, size: int = 8192) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def complaint_of(size: int) -> bytes:
    """A complaint whose JSON is about `size` bytes (a long description)."""
    return json.dumps(complaint_body(description="x" * size)).encode()


async def test_a_chunked_body_over_the_limit_is_413_and_one_under_it_is_taken(
    intake_port: Any,
) -> None:
    port, brand = intake_port
    head = request_head("/v1/complaints", brand, "Transfer-Encoding: chunked")

    over = await exchange(port, head, chunked(complaint_of(MAX_BODY_BYTES + 10)))
    under = await exchange(port, head, chunked(complaint_of(1000)))

    assert over[0] == 413, over
    assert over[1] is not None, over
    assert over[1]["type"].endswith("/payload-too-large"), over
    assert under[0] in (201, 422), under  # read whole: judged on its fields, not its size


async def test_a_lying_content_length_is_413_whichever_way_it_lies(intake_port: Any) -> None:
    port, brand = intake_port
    claims_more = request_head("/v1/complaints", brand, f"Content-Length: {MAX_BODY_BYTES + 1}")
    claims_less = request_head("/v1/complaints", brand, "Content-Length: 10")

    declared = await exchange(port, claims_more, b"")  # answered before any body arrives
    undeclared = await exchange(port, claims_less, complaint_of(MAX_BODY_BYTES + 10), 10)

    assert declared[0] == 413, declared
    assert undeclared[0] == 422, undeclared  # only the 10 declared bytes were read


async def test_the_batch_path_has_its_own_larger_limit_for_chunked_bodies_too(
    intake_port: Any,
) -> None:
    port, _ = intake_port
    head = request_head(BATCH_PATH, {}, "Transfer-Encoding: chunked")
    large = json.dumps({"transfers": [{"n": "x" * (2 * MAX_BODY_BYTES)}]}).encode()

    status, problem = await exchange(port, head, chunked(large, 65536))

    assert status == 401, problem  # read whole (no 413), then refused as unsigned
