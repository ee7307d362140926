"""Intake's HTTP API: the brand portal's front door, admin of brands, complaint history.

Routers parse and delegate; every rule lives in the application and domain.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from services.intake.application import (
    ConsumerAction,
    IntakeApplication,
    NewComplaint,
    cursor_of,
)
from services.intake.application import (
    Request as IntakeRequest,
)
from shared.auth import require_role
from shared.errors import Unauthorized, error_responses
from shared.history import complaint_history
from shared.security import OpsClaims
from shared.service import runtime_of
from shared.telemetry import current_trace_id

api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False, description="The brand's API key")


def application(request: Request) -> IntakeApplication:
    app = runtime_of(request).application
    assert isinstance(app, IntakeApplication)
    return app


App = Annotated[IntakeApplication, Depends(application)]


async def brand_id(app: App, api_key: Annotated[str | None, Depends(api_key_header)]) -> str:
    """The brand the caller's API key acts for."""
    if not api_key:
        raise Unauthorized("an X-Api-Key header is required")
    return await asyncio.to_thread(app.authenticate, api_key)


BrandId = Annotated[str, Depends(brand_id)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retries with the same key and body return the first response.",
    ),
]
Admin = Annotated[OpsClaims, Depends(require_role("admin"))]

router = APIRouter(prefix="/v1", tags=["complaints"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"])


async def intake_request(
    request: Request, brand: BrandId, idempotency_key: IdempotencyKey = None
) -> IntakeRequest:
    return IntakeRequest(brand, current_trace_id(), idempotency_key, await request.body())


Caller = Annotated[IntakeRequest, Depends(intake_request)]


class ComplaintList(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class Withdrawal(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post(
    "/complaints",
    status_code=201,
    responses=error_responses(401, 409, 413, 422),
    summary="Record a complaint (受理)",
)
async def post_complaint(
    new: NewComplaint, caller: Caller, app: App, response: Response
) -> dict[str, Any]:
    status, body = await asyncio.to_thread(app.receive_complaint, caller, new)
    response.status_code = status
    response.headers["Location"] = f"/v1/complaints/{body['complaint_id']}"
    return body


@router.get("/complaints/{complaint_id}", responses=error_responses(401, 404))
async def get_complaint(complaint_id: UUID, brand: BrandId, app: App) -> dict[str, Any]:
    """The complaint's status, fed by all four services."""
    complaint = await asyncio.to_thread(app.complaint, brand, complaint_id)
    return app.complaint_view(complaint)


@router.get("/complaints", responses=error_responses(401, 422))
async def list_complaints(
    brand: BrandId,
    app: App,
    status: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[datetime | None, Query(description="Received at or after (ISO 8601).")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ComplaintList:
    """The brand's complaints, oldest first, a page at a time."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    rows = app.index.page(brand, status, since, cursor, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "complaint_id": str(r.complaint_id),
            "status": r.status,
            "received_at": r.received_at.isoformat(),
            "updated_at": r.updated_at.isoformat(),
        }
        for r in rows
    ]
    return ComplaintList(items=items, next_cursor=cursor_of(rows[-1]) if more else None)


@router.post(
    "/complaints/{complaint_id}/consumer-actions",
    status_code=202,
    responses=error_responses(401, 404, 409, 413, 422),
    summary="The consumer accepts, rejects or counters the offer that stands",
)
async def post_consumer_action(
    complaint_id: UUID, action: ConsumerAction, caller: Caller, app: App
) -> dict[str, Any]:
    complaint = await asyncio.to_thread(app.act, caller, complaint_id, action)
    return app.complaint_view(complaint)


@router.post(
    "/complaints/{complaint_id}/withdrawal",
    status_code=202,
    responses=error_responses(401, 404, 409, 422),
    summary="The consumer withdraws the complaint",
)
async def post_withdrawal(
    complaint_id: UUID, withdrawal: Withdrawal, caller: Caller, app: App
) -> dict[str, Any]:
    complaint = await asyncio.to_thread(app.withdraw, caller, complaint_id, withdrawal.reason)
    return app.complaint_view(complaint)


@router.get("/complaints/{complaint_id}/history", responses=error_responses(401, 404))
async def get_history(
    complaint_id: UUID, brand: BrandId, app: App, request: Request
) -> dict[str, Any]:
    """Every event of the complaint from all four services, in causal order."""
    await asyncio.to_thread(app.complaint, brand, complaint_id)
    entries = await complaint_history(runtime_of(request).bus, complaint_id, brand)
    return {"complaint_id": str(complaint_id), "events": [e.as_dict() for e in entries]}


@router.get(
    "/ops/complaints/{complaint_id}/history", tags=["ops"], responses=error_responses(401, 403)
)
async def get_ops_history(
    complaint_id: UUID,
    request: Request,
    claims: Annotated[OpsClaims, Depends(require_role("viewer"))],
) -> dict[str, Any]:
    """Ops view of a complaint's history across all four streams."""
    entries = await complaint_history(runtime_of(request).bus, complaint_id)
    visible = [e for e in entries if claims.can_see_brand(e.event.brand_id)]
    return {"complaint_id": str(complaint_id), "events": [e.as_dict() for e in visible]}


# --- admin ------------------------------------------------------------------------------


class NewBrand(BaseModel):
    brand_id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,40}$",
        description="Lowercase slug; it appears in NATS subjects.",
    )
    name: str = Field(min_length=1, max_length=200)


@admin.post("/brands", status_code=201, responses=error_responses(401, 403, 409, 422))
async def post_brand(new: NewBrand, app: App, _: Admin) -> dict[str, Any]:
    """Register a brand and issue its first API key (shown once)."""
    await asyncio.to_thread(app.register_brand, new.brand_id, new.name)
    key = await asyncio.to_thread(app.issue_api_key, new.brand_id, datetime.now(UTC))
    return {"brand_id": new.brand_id, "name": new.name, "api_key": key}


@admin.get("/brands", responses=error_responses(401, 403))
async def get_brands(app: App, _: Admin) -> list[dict[str, Any]]:
    brands = await asyncio.to_thread(app.brands)
    return [
        {"brand_id": b.brand_id, "name": b.name, "active_keys": b.active_keys()} for b in brands
    ]


@admin.post("/brands/{brand}/keys", status_code=201, responses=error_responses(401, 403, 404))
async def post_brand_key(brand: str, app: App, _: Admin) -> dict[str, Any]:
    """Issue another key (rotation: issue, switch the portal over, revoke the old one)."""
    key = await asyncio.to_thread(app.issue_api_key, brand, datetime.now(UTC))
    return {"brand_id": brand, "api_key": key}


@admin.delete(
    "/brands/{brand}/keys/{key_id}", status_code=204, responses=error_responses(401, 403, 404)
)
async def delete_brand_key(brand: str, key_id: str, app: App, _: Admin) -> Response:
    await asyncio.to_thread(app.revoke_api_key, brand, key_id, "revoked by admin")
    return Response(status_code=204)
