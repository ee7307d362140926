"""Compensation's HTTP API: ops reads of a compensation case (rounds, approvals, findings)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.compensation.application import CompensationApplication
from services.compensation.domain import CompensationCase
from shared.auth import BrandScope, ops_scope
from shared.errors import NotFound, error_responses
from shared.service import application_of

App = Annotated[CompensationApplication, Depends(application_of(CompensationApplication))]
Viewer = Annotated[BrandScope, Depends(ops_scope("viewer"))]
router = APIRouter(prefix="/v1", tags=["compensation"])


class CompensationCaseView(BaseModel):
    """Apology, offer and the consumer's answer; null until each has happened."""

    complaint_id: UUID
    apologised: bool
    offer: dict[str, Any] | None = Field(description="`offer_id` and its `options`.")
    offer_status: str | None
    accepted_option: dict[str, Any] | None = Field(
        description="`option_id`, `kind` and `amount_fen` of the option accepted."
    )
    handler_id: str | None = None
    authority_fen: int = 0
    rounds: list[dict[str, Any]] = Field(
        default_factory=list, description="Every offer made, oldest first, with its status."
    )
    approvals: list[dict[str, Any]] = Field(
        default_factory=list, description="Approvals asked for and how they were decided."
    )
    findings: list[dict[str, Any]] = Field(
        default_factory=list, description="Operators' findings (LiabilityDetermined)."
    )
    fulfilment: dict[str, Any] | None = None


@router.get("/cases/{complaint_id}", responses=error_responses(401, 403, 404))
async def get_case(complaint_id: UUID, app: App, scope: Viewer) -> CompensationCaseView:
    """Apology, offer and the consumer's answer for one complaint."""
    case = await asyncio.to_thread(app.case, complaint_id)
    missing = NotFound(f"no compensation case for complaint {complaint_id}")
    if not isinstance(case, CompensationCase):  # none, or another aggregate (a dead letter...)
        raise missing
    scope.check(case.brand_id, missing)
    return CompensationCaseView(
        complaint_id=complaint_id,
        apologised=case.apologised,
        offer=case.offer,
        offer_status=case.offer_status,
        accepted_option=case.accepted_option,
        handler_id=case.handler_id,
        authority_fen=case.authority_fen,
        rounds=case.rounds,
        approvals=[
            {k: v for k, v in approval.items() if k != "plan"}
            for approval in case.approvals.values()
        ],
        findings=case.findings,
        fulfilment=case.fulfilment,
    )
