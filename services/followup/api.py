"""Followup's HTTP API: ops reads of a followup case."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.followup.application import FollowupApplication
from shared.auth import require_role
from shared.errors import NotFound, error_responses
from shared.security import OpsClaims
from shared.service import application_of

App = Annotated[FollowupApplication, Depends(application_of(FollowupApplication))]
Viewer = Annotated[OpsClaims, Depends(require_role("viewer"))]
router = APIRouter(prefix="/v1", tags=["followup"])


class FollowupCaseView(BaseModel):
    """The revisits scheduled, and what was agreed (null until an offer is accepted)."""

    complaint_id: UUID
    revisits: list[dict[str, Any]] = Field(description="Each with its due date and calendar.")
    agreed: dict[str, Any] | None


@router.get("/cases/{complaint_id}", responses=error_responses(401, 403, 404))
async def get_case(complaint_id: UUID, app: App, claims: Viewer) -> FollowupCaseView:
    """Revisits scheduled for one complaint."""
    case = await asyncio.to_thread(app.case, complaint_id)
    if case is None or not claims.can_see_brand(case.brand_id):
        raise NotFound(f"no followup case for complaint {complaint_id}")
    return FollowupCaseView(complaint_id=complaint_id, revisits=case.revisits, agreed=case.agreed)
