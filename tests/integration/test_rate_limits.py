"""Rate limits per API key, regulator and ops token: 429 problem+json with Retry-After.

Issue 17 item 6. Limits are token buckets in each process's memory (per replica), set by
`AFTERSALES_RATE_LIMIT_*`; here they are low so that a burst goes over them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from shared.settings import Settings
from shared.transfer_import import run_import
from tests.integration.test_ops_auth import token
from tests.integration.test_regulator_transfers import register_regulator, signed, transfer_body
from tests.platform import admin_headers, register_brand
from tests.servers import free_port

pytestmark = pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # memory, not store
BURST = 5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    limits = {
        f"rate_limit_{kind}_{what}": value
        for kind in ("api_key", "regulator", "ops")
        for what, value in (("per_s", 1.0), ("burst", BURST))
    }
    return settings.model_copy(update=limits)


async def burst(send: Any, times: int) -> list[httpx.Response]:
    return [await send() for _ in range(times)]


def assert_rate_limited(response: httpx.Response) -> int:
    """A 429 as documented; returns its Retry-After."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/rate-limited"), problem
    assert problem["status"] == 429
    retry_after = int(response.headers["Retry-After"])  # an integer number of seconds
    assert retry_after == 1  # a token back within the second at 1/s, rounded up
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Limit"] == str(BURST)
    return retry_after


async def test_an_api_key_over_its_burst_gets_429_another_key_does_not_and_it_recovers(
    service: Any,
) -> None:
    intake = await service("intake")
    acme = await register_brand(intake, "acme")
    rotated = await intake.client.post("/v1/admin/brands/acme/keys", headers=admin_headers(intake))
    acme_second_key = {"X-Api-Key": rotated.json()["api_key"]}
    globex = await register_brand(intake, "globex")

    def listing(headers: dict[str, str]) -> Any:
        return lambda: intake.client.get("/v1/complaints", headers=headers)

    first = await burst(listing(acme), BURST + 3)
    others = await burst(listing(globex), BURST) + await burst(listing(acme_second_key), BURST)

    assert [r.status_code for r in first[:BURST]] == [200] * BURST
    retry_after = max(assert_rate_limited(r) for r in first[BURST:])
    assert [r.status_code for r in others] == [200] * (2 * BURST)  # per key, not per brand
    await asyncio.sleep(retry_after)
    assert (await listing(acme)()).status_code == 200


async def test_an_unknown_key_is_refused_not_counted(service: Any) -> None:
    intake = await service("intake")
    await register_brand(intake, "acme")
    forged = {"X-Api-Key": "ak_0123456789abcdef_" + "x" * 40}

    refused = await burst(lambda: intake.client.get("/v1/complaints", headers=forged), 3 * BURST)

    assert {r.status_code for r in refused} == {401}


async def test_an_ops_token_over_its_burst_gets_429_on_every_service(service: Any) -> None:
    intake = await service("intake")
    routing = await service("routing")
    viewer = token(("supervisor",), ("*",))

    for running in (intake, routing):

        def letters(running: Any = running) -> Any:
            return running.client.get("/v1/ops/dead-letters", headers=viewer)

        answered = await burst(letters, BURST + 1)
        assert [r.status_code for r in answered[:BURST]] == [200] * BURST
        assert_rate_limited(answered[BURST])
    admin = await intake.client.get("/v1/admin/brands", headers=admin_headers(intake))
    assert admin.status_code == 200, admin.text  # another token, its own bucket


async def test_a_regulator_over_its_burst_gets_429(service: Any) -> None:
    intake = await service("intake")
    secret = await register_regulator(intake)
    path = "/v1/regulator/transfers/none-such"

    async def read() -> httpx.Response:
        return await intake.client.get(path, headers=signed(secret, "GET", path))

    answered = await burst(read, BURST + 1)

    assert [r.status_code for r in answered[:BURST]] == [404] * BURST
    assert_rate_limited(answered[BURST])


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """The (started) app behind a real uvicorn on 127.0.0.1: its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def test_the_transfer_import_waits_out_a_429_and_completes(
    service: Any, tmp_path: Path
) -> None:
    intake = await service("intake")
    await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    numbers = [f"沪消保委-2026-{n:04d}" for n in range(BURST + 3)]
    file = tmp_path / "transfers.ndjson"
    file.write_text("\n".join(transfer_body("bathhouse", number).decode() for number in numbers))
    err = io.StringIO()

    async with served(intake.app) as url:
        status = await asyncio.to_thread(
            run_import, file, "sh-xbw", secret, url, batch_size=1, err=err
        )

    assert status == 0, err.getvalue()
    assert f"created {len(numbers)} " in err.getvalue(), err.getvalue()
