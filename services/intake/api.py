"""Intake's HTTP API: the brand portal's front door, admin of brands, complaint history.

Routers parse and delegate: bodies become commands (schemas.py); every rule lives in
the use cases and the domain, and their errors map to problem+json in one place.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, Field

from services.intake.bulk import (
    BATCH_PATH,
    MAX_TRANSFERS,
    RefusedItem,
    parse_batch,
    refused_result,
    summary,
    to_import_transfers,
)
from services.intake.commands import (
    BlockSource,
    EraseSubject,
    FlagSource,
    IssueApiKey,
    RegisterBrand,
    RevokeApiKey,
    SignedRequest,
    WithdrawComplaint,
)
from services.intake.complaint_index import cursor_of
from services.intake.deps import (
    Admin,
    App,
    BrandId,
    ConsumerCaller,
    IdempotencyKey,
    PlatformAdmin,
    Supervisor,
    Viewer,
)
from services.intake.domain import Regulator
from services.intake.errors import BrandNotRegistered, ComplaintNotFound
from services.intake.regulators import refuse_regulator
from services.intake.responses import (
    COMPLAINT_LINKS,
    NEW_KEY_LINKS,
    BatchOutcome,
    BrandCreated,
    BrandView,
    ComplaintDetail,
    ComplaintList,
    ComplaintView,
    GroupView,
    History,
    KeyIssued,
    RegulatorCreated,
    SourceView,
    TransferView,
)
from services.intake.schemas import (
    Confirmation,
    ConsumerAction,
    NewComplaint,
    NewRegulator,
    RegulatorTransfer,
    no_unix_time,
    to_act_on_offer,
    to_confirm_details,
    to_receive_complaint,
    to_receive_transfer,
    to_register_regulator,
)
from services.intake.views import (
    complaint_row_view,
    complaint_view,
    group_view,
    source_view,
    transfer_view,
)
from shared.auth import BrandScope
from shared.errors import error_responses
from shared.history import complaint_history
from shared.idempotency import IdempotentRequest
from shared.ratelimit import throttle
from shared.security import (
    NONCE_HEADER,
    REGULATOR_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    parse_api_key,
)
from shared.service import runtime_of
from shared.telemetry import current_trace_id

router = APIRouter(prefix="/v1", tags=["complaints"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"])


class Withdrawal(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post(
    "/complaints",
    status_code=201,
    response_model=ComplaintView,
    response_model_exclude_unset=True,
    responses={
        200: {
            "description": "A repeat about an open complaint: that one, with `duplicate_of`",
            "model": ComplaintView,
        },
        201: {"description": "Recorded", "links": COMPLAINT_LINKS},
        **error_responses(401, 403, 409, 413, 422),
    },
    summary="Record a complaint (受理)",
)
async def post_complaint(
    new: NewComplaint,
    brand: BrandId,
    app: App,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """201 for a new case; 200 when it repeats an open one; 403 when the source is blocked."""
    idempotency = IdempotentRequest.of(brand, idempotency_key, await request.body())
    command = to_receive_complaint(
        new,
        brand,
        current_trace_id(),
        datetime.now(UTC),
        idempotency_key,
        idempotency.body_hash if idempotency else "",
    )
    status, body = await asyncio.to_thread(app.receive_complaint, command)
    response.status_code = status
    response.headers["Location"] = f"/v1/complaints/{body['complaint_id']}"
    return body


@router.get(
    "/complaints/{complaint_id}",
    operation_id="get_complaint",
    response_model=ComplaintDetail,
    responses=error_responses(401, 404),
)
async def get_complaint(complaint_id: UUID, brand: BrandId, app: App) -> dict[str, Any]:
    """The complaint's status, fed by all four services; its free text as typed while the
    consumer's key exists (`free_text`), redacted once they were erased."""
    return await asyncio.to_thread(app.complaint_for_brand, brand, complaint_id)


@router.get(
    "/complaints",
    response_model=ComplaintList,
    responses={
        200: {
            "description": "A page of the brand's complaints",
            "links": {
                "NextPage": {
                    "operationId": "list_complaints",
                    "parameters": {"cursor": "$response.body#/next_cursor"},
                    "description": "The next page (while `next_cursor` is not null)",
                }
            },
        },
        **error_responses(401, 422),
    },
    operation_id="list_complaints",
)
async def list_complaints(
    brand: BrandId,
    app: App,
    status: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[
        datetime | None,
        BeforeValidator(no_unix_time),
        Query(description="Received at or after (ISO 8601 date-time; not a number)."),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    queue: Annotated[
        Literal["normal", "nuisance"],
        Query(description="`nuisance`: harassment contacts, kept out of the normal list."),
    ] = "normal",
) -> ComplaintList:
    """The brand's complaints, oldest first, a page at a time."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    rows = await asyncio.to_thread(app.index.page, brand, status, since, cursor, limit + 1, queue)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [complaint_row_view(r) for r in rows]
    return ComplaintList(items=items, next_cursor=cursor_of(rows[-1]) if more else None)


@router.post(
    "/complaints/{complaint_id}/consumer-actions",
    operation_id="post_consumer_action",
    status_code=202,
    response_model=ComplaintView,
    responses=error_responses(401, 404, 409, 413, 422),
    summary="The consumer accepts, rejects or counters the offer that stands",
)
async def post_consumer_action(
    complaint_id: UUID, action: ConsumerAction, brand: ConsumerCaller, app: App
) -> dict[str, Any]:
    command = to_act_on_offer(action, brand, complaint_id, datetime.now(UTC))
    return complaint_view(await asyncio.to_thread(app.act, command))


@router.post(
    "/complaints/{complaint_id}/withdrawal",
    operation_id="post_withdrawal",
    status_code=202,
    response_model=ComplaintView,
    responses=error_responses(401, 404, 409, 422),
    summary="The consumer withdraws the complaint",
)
async def post_withdrawal(
    complaint_id: UUID, withdrawal: Withdrawal, brand: ConsumerCaller, app: App
) -> dict[str, Any]:
    command = WithdrawComplaint(brand, complaint_id, withdrawal.reason, datetime.now(UTC))
    return complaint_view(await asyncio.to_thread(app.withdraw, command))


@router.post(
    "/complaints/{complaint_id}/confirmation",
    operation_id="post_confirmation",
    response_model=ComplaintView,
    responses=error_responses(401, 404, 409, 413, 422),
    summary="The record was read back to the consumer and confirmed",
)
async def post_confirmation(
    complaint_id: UUID, confirmation: Confirmation, brand: ConsumerCaller, app: App
) -> dict[str, Any]:
    command = to_confirm_details(confirmation, brand, complaint_id, datetime.now(UTC))
    return complaint_view(await asyncio.to_thread(app.confirm, command))


@router.get(
    "/groups/{group_id}", response_model=GroupView, responses=error_responses(401, 404, 422)
)
async def get_group(group_id: UUID, brand: BrandId, app: App) -> dict[str, Any]:
    """A group complaint: many consumers against one merchant, its members and count."""
    group = await asyncio.to_thread(app.group, brand, group_id)
    members = await asyncio.to_thread(app.index.members, group.brand_id, str(group.id))
    return group_view(group, members)


@router.get(
    "/complaints/{complaint_id}/history",
    operation_id="get_history",
    responses=error_responses(401, 404),
)
async def get_history(complaint_id: UUID, brand: BrandId, app: App, request: Request) -> History:
    """Every event of the complaint from all four services, in causal order."""
    await asyncio.to_thread(app.complaint, brand, complaint_id)
    entries = await complaint_history(runtime_of(request).bus, complaint_id, brand)
    return History.model_validate(
        {"complaint_id": complaint_id, "events": [e.as_dict() for e in entries]}
    )


@router.get(
    "/ops/complaints/{complaint_id}/history",
    tags=["ops"],
    responses=error_responses(401, 403, 404),
)
async def get_ops_history(complaint_id: UUID, request: Request, scope: Viewer) -> History:
    """Ops view of a complaint's history across all four streams (404: none in scope)."""
    entries = await complaint_history(runtime_of(request).bus, complaint_id)
    visible = scope.only(entries, lambda entry: entry.event.brand_id)
    if not visible:
        raise ComplaintNotFound(f"complaint {complaint_id} not found")
    return History.model_validate(
        {"complaint_id": complaint_id, "events": [e.as_dict() for e in visible]}
    )


class SourceAction(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.get(
    "/ops/sources/{subject_ref}",
    tags=["ops"],
    response_model=SourceView,
    responses=error_responses(401, 403, 404, 422),
)
async def get_source(subject_ref: UUID, app: App, scope: Viewer) -> dict[str, Any]:
    """A contact source: its contacts, nuisance flag, block and refused contacts."""
    file = await asyncio.to_thread(app.source, str(subject_ref), scope.claims)
    return source_view(file)


@router.post(
    "/ops/sources/{subject_ref}/block",
    tags=["ops"],
    response_model=SourceView,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Block a harassing source: its further complaints are refused (403)",
)
async def post_source_block(
    subject_ref: UUID, action: SourceAction, app: App, scope: Supervisor
) -> dict[str, Any]:
    command = BlockSource(str(subject_ref), scope.claims, action.reason, datetime.now(UTC))
    return source_view(await asyncio.to_thread(app.block_source, command))


@router.post(
    "/ops/sources/{subject_ref}/nuisance",
    tags=["ops"],
    response_model=SourceView,
    responses=error_responses(401, 403, 404, 422),
    summary="Flag a source as nuisance: its further complaints go to the nuisance queue",
)
async def post_source_nuisance(
    subject_ref: UUID, action: SourceAction, app: App, scope: Supervisor
) -> dict[str, Any]:
    command = FlagSource(str(subject_ref), scope.claims, action.reason, datetime.now(UTC))
    return source_view(await asyncio.to_thread(app.flag_source, command))


@router.post(
    "/ops/subjects/{subject_ref}/erasure",
    tags=["ops"],
    status_code=202,
    responses=error_responses(401, 403, 404, 422),
    summary="Erase a data subject (PIPL): their key is destroyed, their PII unreadable",
)
async def post_subject_erasure(subject_ref: UUID, app: App, scope: Admin) -> dict[str, Any]:
    """Admin, for the subject's brand (another brand's subject is 404). Structured PII and
    the originals of their free text become unreadable everywhere; complaints, history,
    chains and KPIs stay, with free text redacted."""
    command = EraseSubject(str(subject_ref), scope.claims, datetime.now(UTC))
    return await asyncio.to_thread(app.erase_subject, command)


# --- regulators (消协 / 12315), HMAC-signed -----------------------------------------------


async def signed_regulator(
    request: Request,
    app: App,
    regulator_id: Annotated[str | None, Header(alias=REGULATOR_HEADER)] = None,
    timestamp: Annotated[str | None, Header(alias=TIMESTAMP_HEADER, description="Unix s")] = None,
    nonce: Annotated[str | None, Header(alias=NONCE_HEADER)] = None,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER, description="Hex")] = None,
) -> Regulator:
    """The regulator that signed this request; its nonce is recorded before anything else."""
    query = request.url.query
    signed = SignedRequest(
        regulator_id=regulator_id or "",
        timestamp=timestamp or "",
        nonce=nonce or "",
        signature=signature or "",
        method=request.method,
        path=request.url.path + (f"?{query}" if query else ""),
        body=await request.body(),
    )
    values = (regulator_id, timestamp, nonce, signature)
    names = (REGULATOR_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise refuse_regulator(f"missing headers {', '.join(missing)}", signed)
    regulator = await asyncio.to_thread(app.authenticate_regulator, signed, datetime.now(UTC))
    throttle(request, "regulator", regulator.regulator_id)
    return regulator


SignedRegulator = Annotated[Regulator, Depends(signed_regulator)]


@router.post(
    "/regulator/transfers",
    tags=["regulator"],
    status_code=201,
    response_model=TransferView,
    responses={
        200: {
            "description": "This transfer number was received before: the same complaint",
            "model": TransferView,
        },
        **error_responses(401, 413, 422),
    },
    summary="A regulator transfers a complaint to a brand (转办)",
)
async def post_transfer(
    transfer: RegulatorTransfer, regulator: SignedRegulator, app: App, response: Response
) -> dict[str, Any]:
    """Signed with HMAC-SHA256, keyed with the UTF-8 bytes of the regulator's secret, over
    `METHOD\\npath[?query]\\nunix-seconds\\nnonce\\nsha256-hex(body)` (the path as decoded
    UTF-8). Timestamps more than 5 minutes off, and any nonce used before, are refused (401).
    The same transfer number again returns the first complaint (200), never a second one.
    """
    command = to_receive_transfer(
        transfer, regulator.regulator_id, current_trace_id(), datetime.now(UTC)
    )
    status, body = await asyncio.to_thread(app.receive_transfer, command)
    response.status_code = status
    return body


@router.post(
    BATCH_PATH.removeprefix("/v1"),
    tags=["regulator"],
    responses={
        200: {
            "description": "Each transfer's outcome, in order: 201, 200, 409 or 422",
            "model": BatchOutcome,
        },
        **error_responses(401, 413, 422),
    },
    summary="A regulator transfers many complaints at once (batch import)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["transfers"],
                        "properties": {
                            "transfers": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": MAX_TRANSFERS,
                                # Each item is validated on its own: an invalid one
                                # is refused in its result (422), never the batch.
                                "items": {
                                    "description": "A RegulatorTransfer (checked per item)",
                                    "anyOf": [
                                        {"$ref": "#/components/schemas/RegulatorTransfer"},
                                        {},
                                    ],
                                },
                            }
                        },
                    }
                }
            },
        }
    },
)
async def post_transfer_batch(
    request: Request, regulator: SignedRegulator, app: App
) -> JSONResponse:
    """Signed like `POST /v1/regulator/transfers` (the nonce is recorded first). Every item
    gets the outcome the single endpoint would give it (201 new, 200 a number received
    before, 422 an invalid item or unknown brand); one bad item never fails the batch, and
    re-posting the same batch creates nothing new. Over 5000 items: 413.
    """
    items = await asyncio.to_thread(parse_batch, await request.body())
    valid = [i for i in items if not isinstance(i, RefusedItem)]
    command = to_import_transfers(
        valid, regulator.regulator_id, current_trace_id(), datetime.now(UTC)
    )
    outcomes = iter(await asyncio.to_thread(app.import_transfers, command) if valid else [])
    results = [refused_result(i) if isinstance(i, RefusedItem) else next(outcomes) for i in items]
    return JSONResponse(summary(results))


@router.get(
    "/regulator/transfers/{transfer_number}",
    tags=["regulator"],
    response_model=TransferView,
    responses=error_responses(401, 404, 422),
)
async def get_transfer(
    transfer_number: Annotated[str, Path(pattern=r"^[\w.-]{1,64}$")],
    regulator: SignedRegulator,
    app: App,
) -> dict[str, Any]:
    """The transferred complaint's status; `outcome` stays null until it is reported back."""
    complaint = await asyncio.to_thread(app.transfer, regulator, transfer_number)
    return transfer_view(complaint)


# --- admin ------------------------------------------------------------------------------


class NewBrand(BaseModel):
    brand_id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,40}$",
        description="Lowercase slug; it appears in NATS subjects.",
    )
    name: str = Field(min_length=1, max_length=200)


@admin.post(
    "/brands",
    status_code=201,
    responses={
        201: {"description": "Registered, with its first key", "links": NEW_KEY_LINKS},
        **error_responses(401, 403, 409, 422),
    },
)
async def post_brand(new: NewBrand, app: App, _: PlatformAdmin) -> BrandCreated:
    """Register a brand and issue its first API key (shown once): an all-brands admin only."""
    command = RegisterBrand(new.brand_id, new.name, datetime.now(UTC))
    await asyncio.to_thread(app.register_brand, command)
    key = await asyncio.to_thread(app.issue_api_key, IssueApiKey(new.brand_id, datetime.now(UTC)))
    return BrandCreated(
        brand_id=new.brand_id, name=new.name, api_key=key, key_id=parse_api_key(key) or ""
    )


@admin.get("/brands", responses=error_responses(401, 403))
async def get_brands(app: App, scope: Admin) -> list[BrandView]:
    """The brands of the caller's token."""
    brands = scope.only(await asyncio.to_thread(app.brands), lambda brand: brand.brand_id)
    return [
        BrandView(brand_id=b.brand_id, name=b.name, active_keys=b.active_keys()) for b in brands
    ]


def _brand_in_scope(scope: BrandScope, brand: str) -> None:
    """Another brand's keys are not found, exactly as a brand that is not registered."""
    scope.check(brand, BrandNotRegistered(f"brand {brand} is not registered"))


@admin.post(
    "/brands/{brand}/keys",
    operation_id="post_brand_key",
    status_code=201,
    responses={
        201: {"description": "Issued", "links": NEW_KEY_LINKS},
        **error_responses(401, 403, 404),
    },
)
async def post_brand_key(brand: str, app: App, scope: Admin) -> KeyIssued:
    """Issue another key (rotation: issue, switch the portal over, revoke the old one)."""
    _brand_in_scope(scope, brand)
    key = await asyncio.to_thread(app.issue_api_key, IssueApiKey(brand, datetime.now(UTC)))
    return KeyIssued(brand_id=brand, api_key=key, key_id=parse_api_key(key) or "")


@admin.delete(
    "/brands/{brand}/keys/{key_id}",
    operation_id="delete_brand_key",
    status_code=204,
    responses=error_responses(401, 403, 404),
)
async def delete_brand_key(brand: str, key_id: str, app: App, scope: Admin) -> Response:
    _brand_in_scope(scope, brand)
    command = RevokeApiKey(brand, key_id, "revoked by admin", datetime.now(UTC))
    await asyncio.to_thread(app.revoke_api_key, command)
    return Response(status_code=204)


@admin.post("/regulators", status_code=201, responses=error_responses(401, 403, 409, 422))
async def post_regulator(new: NewRegulator, app: App, _: PlatformAdmin) -> RegulatorCreated:
    """Register a regulator integration (all-brands admin); its secret is shown once, here.

    It is stored encrypted (HMAC verification needs the secret itself), never logged.
    """
    command = to_register_regulator(new, datetime.now(UTC))
    secret = await asyncio.to_thread(app.register_regulator, command)
    return RegulatorCreated(**new.model_dump(), secret=secret)
