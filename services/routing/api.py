"""Routing's HTTP API: ops reads of a routing case."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.routing.application import RoutingApplication
from services.routing.domain import RoutingCase
from shared.auth import BrandScope, ops_scope
from shared.errors import NotFound, error_responses
from shared.service import application_of

App = Annotated[RoutingApplication, Depends(application_of(RoutingApplication))]
Viewer = Annotated[BrandScope, Depends(ops_scope("viewer"))]
router = APIRouter(prefix="/v1", tags=["routing"])


class RoutingCaseView(BaseModel):
    """The routing decision; each part is null until routing has made it."""

    complaint_id: UUID
    category: str | None
    severity: str | None
    handler_id: str | None
    # Ownership (1.1): the owner now (a desk until a named handler), why, how we answer.
    owner_kind: str | None = None
    team: str | None = None
    desk: str | None = None
    factors: list[str] = []
    mode: str | None = None
    callback_due: str | None = None
    owners: list[dict[str, Any]] = []


@router.get("/cases/{complaint_id}", responses=error_responses(401, 403, 404))
async def get_case(complaint_id: UUID, app: App, scope: Viewer) -> RoutingCaseView:
    """The routing decision for one complaint."""
    case = await asyncio.to_thread(app.case, complaint_id)
    missing = NotFound(f"no routing case for complaint {complaint_id}")
    if not isinstance(case, RoutingCase):  # none, or another aggregate (a dead letter...)
        raise missing
    scope.check(case.brand_id, missing)
    return RoutingCaseView(
        complaint_id=complaint_id,
        category=case.category,
        severity=case.severity,
        handler_id=case.handler_id,
        owner_kind=case.owner_kind,
        team=case.team,
        desk=case.desk,
        factors=case.factors,
        mode=case.mode,
        callback_due=case.callback_due,
        owners=case.owners,
    )
