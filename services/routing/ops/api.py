"""Routing's ops HTTP API for ownership: rosters, reassign, hand over, transfer, queues.

Every route takes `ops_scope(role)` and checks the case's or the roster's brand (another
brand's case is 404); free text (reasons, places, receiving parties) is redacted before it
is recorded; each change is a recorded command, so replay re-runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.routing.application import RoutingApplication
from services.routing.domain import RoutingCase
from services.routing.ownership import CaseNotFound
from services.routing.roster import DEFAULT_ROSTER, Roster
from shared.auth import BrandScope, ops_scope
from shared.errors import InvalidParameter, error_responses
from shared.readmodels import InvalidCursor
from shared.redaction import redact
from shared.service import application_of

App = Annotated[RoutingApplication, Depends(application_of(RoutingApplication))]
Viewer = Annotated[BrandScope, Depends(ops_scope("viewer"))]
Handler = Annotated[BrandScope, Depends(ops_scope("handler"))]
Supervisor = Annotated[BrandScope, Depends(ops_scope("supervisor"))]
Admin = Annotated[BrandScope, Depends(ops_scope("admin"))]
BrandPath = Annotated[str, Path(min_length=1, max_length=42)]
router = APIRouter(prefix="/v1/ops", tags=["ops"])
Text = Annotated[str, Field(min_length=1, max_length=2000)]
HandlerId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


class RosterView(BaseModel):
    brand: str
    source: Literal["loaded", "default"]
    version: str
    roster: Roster


class _Reassign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_handler: HandlerId
    reason: Text


class ReassignPerson(_Reassign):
    """三变法 [002]: another person (the default)."""

    change: Literal["person"] | None = None


class ReassignPlace(_Reassign):
    """三变法 [002]: another place (e.g. the store manager's office), named."""

    change: Literal["place"]
    place: str = Field(min_length=1, max_length=200)


class ReassignTime(_Reassign):
    """三变法 [002]: another time: the new contact time."""

    change: Literal["time"]
    contact_at: AwareDatetime


# A supervisor gives the case to another handler: another person, place or time.
Reassign = ReassignPerson | ReassignPlace | ReassignTime


class Handover(BaseModel):
    """A handler hands the case over to a colleague of the same team."""

    model_config = ConfigDict(extra="forbid")
    to_handler: HandlerId
    reason: Text


class Transfer(BaseModel):
    """Outside our remit: hand over to the receiving party with the file [002]."""

    model_config = ConfigDict(extra="forbid")
    receiving_party: str = Field(min_length=1, max_length=200)
    reason: Text


class Callback(BaseModel):
    """A call back promised to the consumer (kept even with no news [000])."""

    model_config = ConfigDict(extra="forbid")
    callback_at: AwareDatetime
    reason: Text


class OwnerChange(BaseModel):
    complaint_id: UUID
    team: str | None
    handler_id: str | None
    mode: str | None


class QueueItem(BaseModel):
    complaint_id: UUID
    brand_id: str
    team: str
    handler_id: str
    owner_kind: str
    severity: str
    category: str | None
    mode: str | None
    next_due_at: datetime | None


class QueuePage(BaseModel):
    items: list[QueueItem]
    next_cursor: str | None


class InvalidQueueCursor(InvalidParameter):
    parameter = "cursor"


@router.put(
    "/brands/{brand}/roster",
    response_model=RosterView,
    responses=error_responses(401, 403, 404, 422),
    summary="Load the brand's roster (teams, handlers, authority, skills, escalation chain)",
)
async def put_roster(brand: BrandPath, roster: Roster, app: App, scope: Admin) -> RosterView:
    scope.check(brand, f"no brand {brand} in your scope")
    await asyncio.to_thread(app.load_roster, brand, roster, datetime.now(UTC))
    return RosterView(brand=brand, source="loaded", version=roster.version, roster=roster)


@router.get(
    "/brands/{brand}/roster",
    response_model=RosterView,
    responses=error_responses(401, 403, 404),
    summary="The brand's roster (the default one until a roster is loaded)",
)
async def get_roster(brand: BrandPath, app: App, scope: Viewer) -> RosterView:
    scope.check(brand, f"no brand {brand} in your scope")
    roster = await asyncio.to_thread(app.roster, brand)
    source: Literal["loaded", "default"] = "default" if roster is DEFAULT_ROSTER else "loaded"
    return RosterView(brand=brand, source=source, version=roster.version, roster=roster)


def _utc(moment: datetime) -> str:
    """The instant in UTC, ISO 8601 (as given when UTC cannot hold it: year 1 or 9999)."""
    try:
        return moment.astimezone(UTC).isoformat()
    except OverflowError:
        return moment.isoformat()


async def _case_in_scope(app: RoutingApplication, complaint_id: UUID, scope: BrandScope) -> None:
    case = await asyncio.to_thread(app.case_of, complaint_id)
    missing = CaseNotFound(f"no routed case for complaint {complaint_id}")
    if case is None or not case.routed:
        raise missing
    scope.check(case.brand_id, missing)


async def _command(
    app: RoutingApplication,
    scope: BrandScope,
    complaint_id: UUID,
    use_case: Callable[[UUID, dict[str, Any], datetime], None],
    args: dict[str, Any],
) -> OwnerChange:
    """Run an ops command on a routed case of the token's brands; the owner it leaves."""
    await _case_in_scope(app, complaint_id, scope)
    await asyncio.to_thread(use_case, complaint_id, args, datetime.now(UTC))
    case: RoutingCase | None = await asyncio.to_thread(app.case_of, complaint_id)
    assert case is not None
    return OwnerChange(
        complaint_id=complaint_id, team=case.team, handler_id=case.handler_id, mode=case.mode
    )


@router.post(
    "/cases/{complaint_id}/reassign",
    response_model=OwnerChange,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Reassign the case (supervisor): another person, place or time (三变法)",
)
async def post_reassign(
    complaint_id: UUID, body: Reassign, app: App, scope: Supervisor
) -> OwnerChange:
    contact_at = body.contact_at if isinstance(body, ReassignTime) else None
    place = body.place if isinstance(body, ReassignPlace) else None
    args: dict[str, Any] = {
        "kind": "reassigned",
        "to_handler": body.to_handler,
        "change": body.change,
        "reason": redact(body.reason),
        "contact_at": _utc(contact_at) if contact_at else None,
        "place": redact(place) if place else None,
        "by": scope.claims.sub,
    }
    return await _command(app, scope, complaint_id, app.reassign_case, args)


@router.post(
    "/cases/{complaint_id}/handover",
    response_model=OwnerChange,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Hand the case over to a colleague of the same team (handler)",
)
async def post_handover(
    complaint_id: UUID, body: Handover, app: App, scope: Handler
) -> OwnerChange:
    args: dict[str, Any] = {
        "kind": "handover",
        "to_handler": body.to_handler,
        "change": "person",
        "reason": redact(body.reason),
        "by": scope.claims.sub,
    }
    return await _command(app, scope, complaint_id, app.reassign_case, args)


@router.post(
    "/cases/{complaint_id}/transfer",
    response_model=OwnerChange,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Transfer the case outside our remit, with the file (response mode transfer)",
)
async def post_transfer(
    complaint_id: UUID, body: Transfer, app: App, scope: Handler
) -> OwnerChange:
    args = {
        "receiving_party": redact(body.receiving_party),
        "reason": redact(body.reason),
        "by": scope.claims.sub,
    }
    return await _command(app, scope, complaint_id, app.transfer_case, args)


@router.post(
    "/cases/{complaint_id}/callback",
    response_model=OwnerChange,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Promise the consumer a call back at a time (ConsumerCallbackPromised)",
)
async def post_callback(
    complaint_id: UUID, body: Callback, app: App, scope: Handler
) -> OwnerChange:
    args = {
        "callback_at": _utc(body.callback_at),
        "reason": redact(body.reason),
        "by": scope.claims.sub,
    }
    return await _command(app, scope, complaint_id, app.promise_callback, args)


@router.get(
    "/queues",
    response_model=QueuePage,
    responses=error_responses(401, 403, 422),
    summary="Routed cases per team or handler, most urgent first (severity, then due time)",
)
async def get_queue(
    app: App,
    scope: Viewer,
    brand: Annotated[str | None, Query(max_length=42)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    handler: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> QueuePage:
    if brand is not None:
        brands: list[str] | None = [brand] if scope.allows(brand) else []
    else:
        brands = None if scope.all_brands else list(scope.claims.brands)
    try:
        rows, next_cursor = await asyncio.to_thread(
            app.queue_page, brands, team, handler, cursor, limit
        )
    except InvalidCursor:
        raise InvalidQueueCursor("the cursor was not handed out by this queue") from None
    items = [QueueItem.model_validate(row) for row in rows]
    return QueuePage(items=items, next_cursor=next_cursor)
