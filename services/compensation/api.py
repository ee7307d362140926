"""Compensation's HTTP API: ops reads of a compensation case."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request

from services.compensation.application import CompensationApplication
from shared.errors import NotFound, error_responses
from shared.service import runtime_of


def application(request: Request) -> CompensationApplication:
    app = runtime_of(request).application
    assert isinstance(app, CompensationApplication)
    return app


App = Annotated[CompensationApplication, Depends(application)]
router = APIRouter(prefix="/v1", tags=["compensation"])


@router.get("/cases/{complaint_id}", responses=error_responses(404))
async def get_case(complaint_id: UUID, app: App) -> dict[str, Any]:
    """Apology, offer and the consumer's answer for one complaint."""
    case = await asyncio.to_thread(app.case, complaint_id)
    if case is None:
        raise NotFound(f"no compensation case for complaint {complaint_id}")
    return {
        "complaint_id": str(complaint_id),
        "apologised": case.apologised,
        "offer": case.offer,
        "offer_status": case.offer_status,
        "accepted_option": case.accepted_option,
    }
