"""Followup's HTTP API: ops reads of a followup case."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request

from services.followup.application import FollowupApplication
from shared.errors import NotFound, error_responses
from shared.service import runtime_of


def application(request: Request) -> FollowupApplication:
    app = runtime_of(request).application
    assert isinstance(app, FollowupApplication)
    return app


App = Annotated[FollowupApplication, Depends(application)]
router = APIRouter(prefix="/v1", tags=["followup"])


@router.get("/cases/{complaint_id}", responses=error_responses(404))
async def get_case(complaint_id: UUID, app: App) -> dict[str, Any]:
    """Revisits scheduled for one complaint."""
    case = await asyncio.to_thread(app.case, complaint_id)
    if case is None:
        raise NotFound(f"no followup case for complaint {complaint_id}")
    return {"complaint_id": str(complaint_id), "revisits": case.revisits, "agreed": case.agreed}
