"""Followup's HTTP API: ops reads of a followup case."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.followup.application import FollowupApplication
from services.followup.domain import FollowupCase
from shared.auth import BrandScope, ops_scope
from shared.errors import NotFound, error_responses
from shared.service import application_of

App = Annotated[FollowupApplication, Depends(application_of(FollowupApplication))]
Viewer = Annotated[BrandScope, Depends(ops_scope("viewer"))]
router = APIRouter(prefix="/v1", tags=["followup"])


class FollowupCaseView(BaseModel):
    """The revisits scheduled, and what was agreed (null until an offer is accepted)."""

    complaint_id: UUID
    revisits: list[dict[str, Any]] = Field(description="Each with its due date and calendar.")
    agreed: dict[str, Any] | None


@router.get("/cases/{complaint_id}", responses=error_responses(401, 403, 404))
async def get_case(complaint_id: UUID, app: App, scope: Viewer) -> FollowupCaseView:
    """Revisits scheduled for one complaint."""
    case = await asyncio.to_thread(app.case, complaint_id)
    missing = NotFound(f"no followup case for complaint {complaint_id}")
    if not isinstance(case, FollowupCase):  # none, or another aggregate (a dead letter...)
        raise missing
    scope.check(case.brand_id, missing)
    return FollowupCaseView(complaint_id=complaint_id, revisits=case.revisits, agreed=case.agreed)
