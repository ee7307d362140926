"""Running services in-process for integration tests: real NATS, real store, real HTTP (ASGI)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from services.compensation.main import SPEC as COMPENSATION
from services.followup.main import SPEC as FOLLOWUP
from services.intake.main import SPEC as INTAKE
from services.routing.main import SPEC as ROUTING
from shared.bus import Bus
from shared.cli import Platform
from shared.security import Role, mint_ops_token
from shared.service import Runtime, ServiceSpec, create_app
from shared.settings import Settings
from tests.servers import nats_server_for

SPECS: dict[str, ServiceSpec] = {
    "intake": INTAKE,
    "routing": ROUTING,
    "compensation": COMPENSATION,
    "followup": FOLLOWUP,
}
# Secrets of the test environment (not the development ones, which `test` refuses).
TEST_SECRETS = {
    "token_key": "test-token-key-not-for-production-000000000001",
    "pii_master_key": "test-pii-master-key-not-for-production-00000002",
    "pii_index_key": "test-pii-index-key-not-for-production-000000003",
}
T = TypeVar("T")


@dataclass
class RunningService:
    name: str
    app: FastAPI
    client: httpx.AsyncClient
    stack: AsyncExitStack
    _admin: Bus | None = None

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def admin_bus(self) -> Bus:
        """A bus as the NATS admin, for a test playing other services or the operator (the
        service's own bus may touch only its own subjects); closed when the service stops."""
        if self._admin is None:
            self._admin = await Bus.connect(self.runtime.settings.nats_url, f"test-{self.name}")
            self.stack.push_async_callback(self._admin.close)
        return self._admin

    async def stop(self) -> None:
        await self.stack.aclose()


async def start_service(name: str, settings: Settings) -> RunningService:
    """Start one service with its full lifespan (store, streams, relay, consumers)."""
    app = create_app(SPECS[name], as_nats_user(name, settings))
    stack = AsyncExitStack()
    await stack.enter_async_context(app.router.lifespan_context(app))
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
    )
    return RunningService(name, app, client, stack)


def as_nats_user(name: str, settings: Settings) -> Settings:
    """`settings` connecting as the service's own NATS user, as `aftersales up` runs it
    (settings naming a user already are kept)."""
    server = nats_server_for(settings.nats_url)
    if settings.nats_user or server is None or not server.credentials:
        return settings
    password = server.credentials[name]
    return settings.model_copy(update={"nats_user": name, "nats_password": password})


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout: float = 10.0, what: str = "condition"
) -> T:
    """Poll an async check until it returns something truthy."""
    end = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def token_for(
    settings: Settings | None,
    roles: tuple[Role, ...],
    brands: tuple[str, ...],
    ttl: int = 600,
    sub: str = "ops-user",
    authority_fen: int = 50_000,
) -> dict[str, str]:
    """Headers with a real ops token minted with the settings' key, issuer and audience
    (as `aftersales token issue` mints them); None: the integration tests' settings."""
    settings = settings or Settings(environment="test", **TEST_SECRETS)
    token = mint_ops_token(
        settings.token_key.encode(),
        sub=sub,
        roles=roles,
        brands=brands,
        ttl_s=ttl,
        now=int(time.time()),
        authority_fen=authority_fen,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )
    return {"Authorization": f"Bearer {token}"}


def ops_token(
    service: RunningService, roles: tuple[Role, ...], brands: tuple[str, ...], **kwargs: Any
) -> dict[str, str]:
    """Headers with an ops token the running service accepts."""
    return token_for(service.runtime.settings, roles, brands, **kwargs)


def env_admin_token() -> str:
    """An all-brands admin token for services started from this environment (processes)."""
    settings = Settings()
    return mint_ops_token(
        settings.token_key.encode(),
        sub="test-admin",
        roles=("admin",),
        brands=("*",),
        ttl_s=600,
        now=int(time.time()),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )


def env_admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {env_admin_token()}"}


def admin_headers(service: RunningService) -> dict[str, str]:
    """An all-brands admin's token for the running service."""
    return ops_token(service, ("admin",), ("*",), sub="test-admin")


async def register_brand(intake: RunningService, brand_id: str) -> dict[str, str]:
    """Register a brand; returns headers carrying its API key."""
    response = await intake.client.post(
        "/v1/admin/brands",
        headers=admin_headers(intake),
        json={"brand_id": brand_id, "name": brand_id.title()},
    )
    assert response.status_code == 201, response.text
    return {"X-Api-Key": response.json()["api_key"]}


def complaint_body(**overrides: Any) -> dict[str, Any]:
    """A valid complaint (the fridge case from the seeds), with overrides."""
    body: dict[str, Any] = {
        "channel": "web",
        "consumer": {"name": "王先生", "phone": "13900001111"},
        "product": {"category": "冰箱 refrigerator", "model": "BCD-470", "serial": "HR2291"},
        "order": {"purchase_date": "2026-06-18", "price_fen": 459900, "merchant": "苏宁"},
        "description": "冰箱不制冷，质量故障，要求上门维修。",
        "demands": [{"kind": "repair"}],
    }
    body.update(overrides)
    return body


def brand_of_platform(platform: Platform, brand_id: str) -> dict[str, str]:
    """Register `brand_id` on a platform of processes (as an all-brands admin): its key."""
    response = httpx.post(
        f"{platform.url('intake')}/v1/admin/brands",
        headers=env_admin_headers(),
        json={"brand_id": brand_id, "name": brand_id},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return {"X-Api-Key": response.json()["api_key"]}


@asynccontextmanager
async def serving(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any],
) -> AsyncIterator[int]:
    """A TCP server on a free loopback port for `handle` (a test's webhook receiver): the port."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()
