"""A brand's remedy policy over HTTP: `PUT` (admin) loads a version, `GET` (viewer) reads it.

Brand-scoped (`shared.auth.ops_scope`). 422 (problem+json) names the field or the rule a
document gets wrong or undercuts (a brand may give more than the law, never less); 409 when a
version is reused with other content. Complaints decided from then on use the new version;
decisions already made keep the version they recorded.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from services.compensation.policy import RemedyPolicy
from services.compensation.policy_store import RemedyPolicyBook
from shared.auth import BrandScope, ops_scope
from shared.brand_documents import Current
from shared.errors import NotFound, error_responses
from shared.service import application_of

App = Annotated[RemedyPolicyBook, Depends(application_of(RemedyPolicyBook))]
Viewer = Annotated[BrandScope, Depends(ops_scope("viewer"))]
Admin = Annotated[BrandScope, Depends(ops_scope("admin"))]
Brand = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")]
router = APIRouter(prefix="/v1", tags=["remedy policy"])


class RemedyPolicyView(BaseModel):
    """The remedy policy a brand's complaints are decided by now."""

    brand_id: str
    source: str  # "brand" (loaded for it) or "default" (the packaged statutory baseline)
    version: str
    digest: str
    document: dict[str, Any]


def _view(current: Current[RemedyPolicy]) -> RemedyPolicyView:
    return RemedyPolicyView(
        brand_id=current.brand_id,
        source=current.source,
        version=current.version,
        digest=current.digest,
        document=current.document,
    )


def _in_scope(scope: BrandScope, brand: str) -> None:
    scope.check(brand, NotFound(f"no remedy policy for brand {brand}"))


@router.put(
    "/ops/brands/{brand}/remedy-policy", responses=error_responses(401, 403, 404, 409, 422)
)
async def put_remedy_policy(
    brand: Brand, document: RemedyPolicy, app: App, scope: Admin
) -> RemedyPolicyView:
    """Load a new version of the brand's remedy policy (三包 periods, statutory rules, parcel
    cap, goodwill catalogue, apology templates); never less generous than the law."""
    _in_scope(scope, brand)
    at = datetime.now(UTC)
    return _view(await asyncio.to_thread(app.load_remedy_policy, brand, document, at))


@router.get("/ops/brands/{brand}/remedy-policy", responses=error_responses(401, 403, 404, 422))
async def get_remedy_policy(brand: Brand, app: App, scope: Viewer) -> RemedyPolicyView:
    """The brand's remedy policy in force (the packaged baseline until one is loaded)."""
    _in_scope(scope, brand)
    return _view(await asyncio.to_thread(app.remedy_policy_in_force, brand))
