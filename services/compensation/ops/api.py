"""Compensation's ops API: approvals (supervisor), findings (supervisor), fulfilment (handler).

Every route takes `ops_scope(role)` and checks the case's brand (another brand's case is
404); free text is redacted before it is recorded; each change is a recorded command, so
`aftersales replay` runs it again. Repeating a decision or a fulfilment is 200 with no new
event; a different answer to something decided is 409.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from services.compensation.application import CaseNotFound, CompensationApplication
from services.compensation.approvals import pending_page
from services.compensation.offers import FINDINGS
from shared.auth import BrandScope, ops_scope
from shared.errors import InvalidParameter, error_responses
from shared.readmodels import InvalidCursor
from shared.redaction import redact
from shared.service import application_of

App = Annotated[CompensationApplication, Depends(application_of(CompensationApplication))]
Handler = Annotated[BrandScope, Depends(ops_scope("handler"))]
Supervisor = Annotated[BrandScope, Depends(ops_scope("supervisor"))]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
router = APIRouter(prefix="/v1/ops", tags=["ops"])
APPROVAL_PAGE = 50


class Decision(BaseModel):
    """A supervisor's answer to an approval (主管批示 [001])."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["grant", "deny"]
    reason: Text


class Liability(BaseModel):
    """An operator's finding, with the evidence it rests on."""

    model_config = ConfigDict(extra="forbid")
    finding: Literal[FINDINGS]  # type: ignore[valid-type]
    evidence: Text


class Fulfilment(BaseModel):
    """The accepted option was carried out: refund paid, replacement shipped, repair done."""

    model_config = ConfigDict(extra="forbid")
    option_id: str = Field(min_length=1, max_length=64)
    reference: str = Field(min_length=1, max_length=200)


class CommandResult(BaseModel):
    complaint_id: UUID
    outcome: Literal["recorded", "granted", "denied", "unchanged"]
    offer_status: str | None
    offer_id: str | None


class PendingApproval(BaseModel):
    approval_id: str
    complaint_id: UUID
    brand_id: str
    offer_round: int
    handler_id: str
    authority_fen: int
    max_amount_fen: int
    statutory: bool
    reason: str
    requested_at: datetime


class ApprovalPage(BaseModel):
    items: list[PendingApproval]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class InvalidApprovalCursor(InvalidParameter):
    parameter = "cursor"


async def _command(
    app: CompensationApplication,
    scope: BrandScope,
    complaint_id: UUID,
    name: str,
    args: dict[str, Any],
) -> CommandResult:
    """Run a recorded command on a case of the token's brands; the case as it leaves it."""
    case = await asyncio.to_thread(app.case, complaint_id)
    missing = CaseNotFound(f"no compensation case for complaint {complaint_id}")
    if case is None:
        raise missing
    scope.check(case.brand_id, missing)
    at = datetime.now(UTC)
    outcome = await asyncio.to_thread(app.run, name, complaint_id, args, at)
    case = await asyncio.to_thread(app.case, complaint_id)
    assert case is not None
    offer_id = case.offer["offer_id"] if case.offer else None
    return CommandResult(
        complaint_id=complaint_id,
        outcome=outcome,
        offer_status=case.offer_status,
        offer_id=offer_id,
    )


@router.post(
    "/cases/{complaint_id}/approvals/{approval_id}",
    response_model=CommandResult,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Grant or deny an approval (supervisor); the offer follows",
)
async def post_decision(
    complaint_id: UUID, approval_id: UUID, body: Decision, app: App, scope: Supervisor
) -> CommandResult:
    """Granted: the round is offered whole. Denied: offered without the options that waited;
    a statutory entitlement cannot be denied (409). The same decision again is 200 with no
    new event; another decision on a decided approval is 409."""
    args = {
        "approval_id": str(approval_id),
        "decision": body.decision,
        "reason": redact(body.reason),
        "by": scope.claims.sub,
    }
    return await _command(app, scope, complaint_id, "approval.decide", args)


@router.post(
    "/cases/{complaint_id}/liability",
    response_model=CommandResult,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Record a finding with evidence (supervisor); an open offer gets a new round",
)
async def post_liability(
    complaint_id: UUID, body: Liability, app: App, scope: Supervisor
) -> CommandResult:
    args = {"finding": body.finding, "evidence": redact(body.evidence), "by": scope.claims.sub}
    return await _command(app, scope, complaint_id, "liability.determine", args)


@router.post(
    "/cases/{complaint_id}/fulfilment",
    response_model=CommandResult,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="The accepted option was carried out (handler): RemedyFulfilled, once",
)
async def post_fulfilment(
    complaint_id: UUID, body: Fulfilment, app: App, scope: Handler
) -> CommandResult:
    args = {
        "option_id": body.option_id,
        "reference": redact(body.reference),
        "by": scope.claims.sub,
    }
    return await _command(app, scope, complaint_id, "remedy.fulfil", args)


@router.get(
    "/approvals",
    response_model=ApprovalPage,
    responses=error_responses(401, 403, 422),
    summary="Pending approvals of the token's brands, oldest first (keyset pages)",
)
async def get_approvals(
    app: App,
    scope: Supervisor,
    brand: Annotated[str | None, Query(min_length=1, max_length=42)] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = APPROVAL_PAGE,
) -> ApprovalPage:
    if brand is not None:
        scope.check(brand, f"no brand {brand} in your scope")
        brands: list[str] | None = [brand]
    else:
        brands = None if scope.all_brands else sorted(scope.claims.brands)
    try:
        rows, next_cursor = await asyncio.to_thread(
            pending_page, app.read_models, brands, cursor, limit
        )
    except InvalidCursor as error:
        raise InvalidApprovalCursor(str(error)) from None
    items = [PendingApproval(**{**row, "statutory": bool(row["statutory"])}) for row in rows]
    return ApprovalPage(items=items, next_cursor=next_cursor)
