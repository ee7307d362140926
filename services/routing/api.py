"""Routing's HTTP API: ops reads of a routing case; a brand's routing rules (load, read)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from services.routing.application import RoutingApplication
from services.routing.domain import RoutingCase
from services.routing.rulebook import BrandRules, LoadRules
from services.routing.rules import RulesDocument
from shared.auth import BrandScope, ops_scope
from shared.errors import NotFound, error_responses
from shared.service import application_of

App = Annotated[RoutingApplication, Depends(application_of(RoutingApplication))]
Viewer = Annotated[BrandScope, Depends(ops_scope("viewer"))]
Admin = Annotated[BrandScope, Depends(ops_scope("admin"))]
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


# --- a brand's routing rules (classification keywords, safety signals) ---------------------

Brand = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")]


class RoutingRulesView(BaseModel):
    """The rules a brand's new complaints are classified by."""

    brand_id: str
    source: str  # "brand" (loaded for it) or "default" (the packaged document)
    version: str
    digest: str
    document: dict[str, Any]


def _view(rules: BrandRules) -> RoutingRulesView:
    return RoutingRulesView(
        brand_id=rules.brand_id,
        source=rules.source,
        version=rules.version,
        digest=rules.digest,
        document=rules.document,
    )


def _in_scope(scope: BrandScope, brand: str) -> None:
    scope.check(brand, NotFound(f"no routing rules for brand {brand}"))


@router.put(
    "/ops/brands/{brand}/routing-rules",
    tags=["routing rules"],
    responses=error_responses(401, 403, 404, 409, 422),
)
async def put_routing_rules(
    brand: Brand, document: RulesDocument, app: App, scope: Admin
) -> RoutingRulesView:
    """Load a new version of the brand's rules: complaints received from now on use it;
    decisions already made keep the version they recorded."""
    _in_scope(scope, brand)
    command = LoadRules(brand, document, datetime.now(UTC))
    return _view(await asyncio.to_thread(app.load_rules, command))


@router.get(
    "/ops/brands/{brand}/routing-rules",
    tags=["routing rules"],
    responses=error_responses(401, 403, 404, 422),
)
async def get_routing_rules(brand: Brand, app: App, scope: Viewer) -> RoutingRulesView:
    """The brand's current rules (the packaged default until a document is loaded)."""
    _in_scope(scope, brand)
    return _view(await asyncio.to_thread(app.brand_rules, brand))
