"""What intake's routers depend on: the application, the calling brand, ops roles.

`Annotated` aliases, so a router names what it needs and FastAPI supplies it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader

from services.intake.application import IntakeApplication
from shared.auth import BrandScope, ops_scope
from shared.errors import Unauthorized
from shared.ratelimit import throttle
from shared.service import application_of

api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False, description="The brand's API key")


App = Annotated[IntakeApplication, Depends(application_of(IntakeApplication))]


async def brand_id(
    app: App, request: Request, api_key: Annotated[str | None, Depends(api_key_header)]
) -> str:
    """The brand the caller's API key acts for: from memory if checked lately, else the store.

    Each key has its own rate limit (counted once the key is known good, by its key id).
    """
    if not api_key:
        raise Unauthorized("an X-Api-Key header is required")
    brand = app.authenticate_cached(api_key)
    if brand is None:
        brand = await asyncio.to_thread(app.authenticate, api_key)
    throttle(request, "api_key", api_key.split("_", 2)[1])
    return brand


BrandId = Annotated[str, Depends(brand_id)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retries with the same key and body return the first response.",
    ),
]


async def consumer_caller(brand: BrandId, idempotency_key: IdempotencyKey = None) -> str:
    """The brand acting for a consumer; an Idempotency-Key is accepted (and validated) on
    these routes as before, but only creating POSTs replay a recorded response."""
    return brand


ConsumerCaller = Annotated[str, Depends(consumer_caller)]
# Ops and admin callers: a role and the brands of their token (shared/auth.py).
Admin = Annotated[BrandScope, Depends(ops_scope("admin"))]
PlatformAdmin = Annotated[BrandScope, Depends(ops_scope("admin", all_brands=True))]
Supervisor = Annotated[BrandScope, Depends(ops_scope("supervisor"))]
Viewer = Annotated[BrandScope, Depends(ops_scope("viewer"))]
