"""Routing's SLA ops API: brand SLA policies, a case's clocks, pause/resume and escalation.

Every route takes `ops_scope(role)` and checks the brand: another brand's policy or case is
404, like a missing one. Free text (reasons) is redacted before it is recorded.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from services.routing.application import RoutingApplication
from services.routing.domain import RoutingCase
from services.routing.sla_policy import SlaPolicy
from shared.auth import BrandScope, ops_scope
from shared.errors import NotFound, error_responses
from shared.redaction import redact
from shared.service import application_of

App = Annotated[RoutingApplication, Depends(application_of(RoutingApplication))]
Viewer = Annotated[BrandScope, Depends(ops_scope("viewer"))]
Handler = Annotated[BrandScope, Depends(ops_scope("handler"))]
Admin = Annotated[BrandScope, Depends(ops_scope("admin"))]
BrandId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
router = APIRouter(prefix="/v1/ops", tags=["routing: SLA"])


class SlaPolicyView(BaseModel):
    """A brand's SLA policy and where it comes from (its own, or the platform default)."""

    brand_id: str
    source: Literal["brand", "default"]
    policy: SlaPolicy


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why (redacted when stored).")


class ClockView(BaseModel):
    clause: str
    status: str = Field(description="running, paused, met, breached or stopped")
    starts_at: str
    due_at: str | None
    provisional: bool
    escalations: int


class SlaCaseView(BaseModel):
    """A complaint's SLA clocks, whether they are paused, and how far it was escalated."""

    complaint_id: UUID
    paused: bool
    escalation_level: str | None
    next_due_at: datetime | None
    clocks: list[ClockView]


@router.get("/brands/{brand_id}/sla-policy", responses=error_responses(401, 403, 404, 422))
async def get_sla_policy(brand_id: BrandId, app: App, scope: Viewer) -> SlaPolicyView:
    """The SLA policy new clocks of this brand start with."""
    scope.check(brand_id, f"no brand {brand_id}")
    policy, source = await asyncio.to_thread(app.sla_policy, brand_id, False)
    return SlaPolicyView(brand_id=brand_id, source=source, policy=policy)


@router.put("/brands/{brand_id}/sla-policy", responses=error_responses(401, 403, 404, 409, 422))
async def put_sla_policy(
    brand_id: BrandId, policy: SlaPolicy, app: App, scope: Admin
) -> SlaPolicyView:
    """Load a new version of the brand's SLA policy (a recorded command); clocks already
    running keep the version they started with. The same version again is a no-op; the same
    version with other content is 409."""
    scope.check(brand_id, f"no brand {brand_id}")
    loaded = await asyncio.to_thread(app.load_sla_policy, brand_id, policy, datetime.now(UTC))
    return SlaPolicyView(brand_id=brand_id, source="brand", policy=loaded)


async def _case(app: RoutingApplication, complaint_id: UUID, scope: BrandScope) -> RoutingCase:
    case = await asyncio.to_thread(app.case, complaint_id)
    missing = NotFound(f"no routing case for complaint {complaint_id}")
    if not isinstance(case, RoutingCase):
        raise missing
    scope.check(case.brand_id, missing)
    return case


async def _view(app: RoutingApplication, case: RoutingCase) -> SlaCaseView:
    next_due = app.next_due_at(case)
    return SlaCaseView(
        complaint_id=case.id,
        paused=case.sla_paused,
        escalation_level=case.escalation_level,
        next_due_at=next_due,
        clocks=[
            ClockView(
                clause=c["clause"],
                status=c["status"],
                starts_at=c["starts_at"],
                due_at=c["due_at"],
                provisional=c["provisional"],
                escalations=c["escalations"],
            )
            for c in case.clocks.values()
        ],
    )


@router.get("/cases/{complaint_id}/sla", responses=error_responses(401, 403, 404))
async def get_case_sla(complaint_id: UUID, app: App, scope: Viewer) -> SlaCaseView:
    """The complaint's SLA clocks."""
    return await _view(app, await _case(app, complaint_id, scope))


async def _command(
    app: RoutingApplication, name: str, complaint_id: UUID, body: Reason, scope: BrandScope
) -> SlaCaseView:
    await _case(app, complaint_id, scope)  # 404 before anything is recorded
    reason = redact(body.reason)
    at = datetime.now(UTC)
    by = scope.claims.sub
    case = await asyncio.to_thread(app.sla_command, name, complaint_id, reason, by, at)
    return await _view(app, case)


@router.post("/cases/{complaint_id}/sla/pause", responses=error_responses(401, 403, 404, 409, 422))
async def pause_sla(complaint_id: UUID, body: Reason, app: App, scope: Handler) -> SlaCaseView:
    """Stop the case's running clocks while it waits (appraisal, inspection): 409 if paused."""
    return await _command(app, "sla.pause", complaint_id, body, scope)


@router.post(
    "/cases/{complaint_id}/sla/resume", responses=error_responses(401, 403, 404, 409, 422)
)
async def resume_sla(complaint_id: UUID, body: Reason, app: App, scope: Handler) -> SlaCaseView:
    """Restart the paused clocks, each due later by the span paused: 409 if not paused."""
    return await _command(app, "sla.resume", complaint_id, body, scope)


@router.post("/cases/{complaint_id}/escalate", responses=error_responses(401, 403, 404, 409, 422))
async def escalate_case(
    complaint_id: UUID, body: Reason, app: App, scope: Handler
) -> SlaCaseView:
    """Escalate one level up the chain (handler → supervisor → crisis team): 409 at the top."""
    return await _command(app, "sla.escalate", complaint_id, body, scope)
