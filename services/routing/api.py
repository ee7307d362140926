"""Routing's HTTP API: ops reads of a routing case."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request

from services.routing.application import RoutingApplication
from shared.errors import NotFound, error_responses
from shared.service import runtime_of


def application(request: Request) -> RoutingApplication:
    app = runtime_of(request).application
    assert isinstance(app, RoutingApplication)
    return app


App = Annotated[RoutingApplication, Depends(application)]
router = APIRouter(prefix="/v1", tags=["routing"])


@router.get("/cases/{complaint_id}", responses=error_responses(404))
async def get_case(complaint_id: UUID, app: App) -> dict[str, Any]:
    """The routing decision for one complaint."""
    case = await asyncio.to_thread(app.case, complaint_id)
    if case is None:
        raise NotFound(f"no routing case for complaint {complaint_id}")
    return {
        "complaint_id": str(complaint_id),
        "category": case.category,
        "severity": case.severity,
        "handler_id": case.handler_id,
    }
