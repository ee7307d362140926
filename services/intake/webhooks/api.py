"""The webhooks HTTP API: a brand registers, lists and deletes webhooks, and reads deliveries.

Routers parse and delegate: bodies become commands for the webhook use cases.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.intake.commands import SubscribeWebhook, UnsubscribeWebhook
from services.intake.deps import App, BrandId
from services.intake.webhooks.delivery_log import DeliveryStatus, DeliveryView, delivery_log
from services.intake.webhooks.domain import WebhookSubscription
from services.intake.webhooks.targets import admit_new_target
from shared.contracts import PAYLOADS
from shared.errors import error_responses
from shared.service import runtime_of

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


# What `_http_url` lets through, in the schema: a scheme, a host, an optional port and rest.
URL_PATTERN = r"^https?://[^\s/?#@:\[\]]+(?::[0-9]{1,5})?(?:[/?#]\S*)?$"
EventType = Annotated[str, Field(json_schema_extra={"enum": sorted(PAYLOADS)})]


class NewSubscription(BaseModel):
    """A webhook: where to POST, and which event types."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        max_length=2000,
        pattern=URL_PATTERN,
        description="An http or https (in production: https) URL of a public endpoint, "
        "without credentials; every address its host resolves to must be public.",
    )
    event_types: list[EventType] = Field(
        min_length=1, max_length=len(PAYLOADS), description="Contract event types."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in PAYLOADS]
        if unknown:
            raise ValueError(f"unknown event types: {', '.join(unknown)}")
        return list(dict.fromkeys(value))


class SubscriptionView(BaseModel):
    id: UUID
    url: str
    event_types: list[str]
    created_at: datetime


class CreatedSubscription(SubscriptionView):
    secret: str = Field(
        description="Signs every delivery (HMAC-SHA256 over `<t>.<body>`). Shown only now."
    )


class DeliveryPage(BaseModel):
    items: list[DeliveryView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


def _view(subscription: WebhookSubscription) -> SubscriptionView:
    return SubscriptionView(
        id=subscription.id,
        url=subscription.url,
        event_types=subscription.event_types,
        created_at=subscription.created_on,
    )


@router.post(
    "",
    status_code=201,
    responses={
        201: {
            "description": "Registered",
            "links": {
                "DeleteWebhook": {
                    "operationId": "delete_webhook",
                    "parameters": {"subscription_id": "$response.body#/id"},
                    "description": "Remove it again",
                }
            },
        },
        **error_responses(401, 409, 413, 422),
    },
    summary="Register a webhook; its signing secret is returned only in this response",
)
async def post_webhook(
    new: NewSubscription, brand: BrandId, app: App, request: Request
) -> CreatedSubscription:
    """No `Idempotency-Key`: a replayed response would have to keep the secret in plaintext.

    A URL whose host is, or resolves to, a loopback, private, link-local, multicast or
    other non-public address (or a cloud metadata name) is refused with 422.
    """
    await admit_new_target(runtime_of(request), new.url)
    command = SubscribeWebhook(brand, new.url, new.event_types, datetime.now(UTC), uuid4())
    subscription, secret = await asyncio.to_thread(app.subscribe_webhook, command)
    return CreatedSubscription(**_view(subscription).model_dump(), secret=secret)


@router.get("", responses=error_responses(401))
async def get_webhooks(brand: BrandId, app: App) -> list[SubscriptionView]:
    """The brand's webhooks (without secrets)."""
    return [_view(s) for s in await asyncio.to_thread(app.webhooks, brand)]


@router.get("/deliveries", responses=error_responses(401, 422))
async def get_deliveries(
    brand: BrandId,
    app: App,
    request: Request,
    status: DeliveryStatus | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryPage:
    """The brand's deliveries, oldest first, each with its attempts and what comes next."""
    deliveries = delivery_log(runtime_of(request))
    items, next_cursor = await asyncio.to_thread(deliveries.page, brand, status, cursor, limit)
    return DeliveryPage(items=items, next_cursor=next_cursor)


@router.delete(
    # `uuid`: only an id matches, so DELETE /v1/webhooks/deliveries is a 405, not a 422.
    "/{subscription_id:uuid}",
    operation_id="delete_webhook",
    status_code=204,
    responses=error_responses(401, 404, 422),
)
async def delete_webhook(subscription_id: UUID, brand: BrandId, app: App) -> Response:
    """Remove a webhook; its pending deliveries are abandoned and its secret destroyed."""
    command = UnsubscribeWebhook(brand, subscription_id, datetime.now(UTC))
    await asyncio.to_thread(app.unsubscribe_webhook, command)
    return Response(status_code=204)
