"""The webhook delivery log (read model): every delivery with its attempts, and what is due.

Two tables in intake's own store, written in the transaction that records the delivery's
events: `webhook_deliveries` (one row per delivery, leased to one worker at a time while
it is attempted) and `webhook_attempts`. Every intake process on one database sees the
same log, and a due delivery is handed to one worker only.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from services.intake.errors import IntakeError
from services.intake.webhooks.domain import WebhookDelivery
from shared.errors import InvalidParameter
from shared.readmodels import (
    Cmp,
    Column,
    Index,
    InvalidCursor,
    PageQuery,
    ReadModelRecorder,
    RowWrite,
    Table,
    Upsert,
    lease_columns,
)
from shared.service import Runtime
from shared.store import ServiceApplication, event_type_of

DeliveryStatus = Literal["pending", "delivered", "abandoned"]
DELIVERIES = Table(
    "webhook_deliveries",
    (
        Column("delivery_id", "text", nullable=False),
        Column("brand_id", "text", nullable=False),
        Column("subscription_id", "text", nullable=False),
        Column("event_id", "text", nullable=False),
        Column("event_type", "text", nullable=False),
        Column("status", "text", nullable=False),
        Column("attempts", "integer", nullable=False),
        Column("last_status_code", "integer"),
        Column("last_error", "text"),
        Column("next_attempt_at", "timestamp"),
        # When a worker may take it (epoch seconds); None once delivered or abandoned.
        Column("due_at", "real"),
        Column("scheduled_at", "timestamp", nullable=False),
        Column("updated_at", "timestamp", nullable=False),
        Column("abandoned_reason", "text"),
        *lease_columns(),
    ),
    primary_key=("delivery_id",),
    indexes=(
        Index(("brand_id", "scheduled_at", "delivery_id")),
        Index(("brand_id", "status", "scheduled_at", "delivery_id")),
        Index(("due_at",)),
    ),
)
ATTEMPTS = Table(
    "webhook_attempts",
    (
        Column("delivery_id", "text", nullable=False),
        Column("attempt", "integer", nullable=False),
        Column("attempted_at", "timestamp", nullable=False),
        Column("status_code", "integer"),
        Column("error", "text"),
    ),
    primary_key=("delivery_id", "attempt"),
)
TABLES = (DELIVERIES, ATTEMPTS)
ORDER = ("scheduled_at", "delivery_id")
LEASE_S = 60.0  # longer than a request's timeout plus recording it
# What a brand is told of a failed attempt: coarse, so the log maps no network for it.
TARGET_NOT_ALLOWED = "target not allowed"
TIMEOUT = "timeout"
CONNECTION_FAILED = "connection failed"
ATTEMPT_ERRORS = (TARGET_NOT_ALLOWED, TIMEOUT, CONNECTION_FAILED)


class InvalidDeliveryCursor(InvalidParameter, IntakeError):
    """The deliveries cursor was not handed out by this listing."""

    parameter = "cursor"


ERROR_DESCRIPTION = (
    "Why the attempt failed without an answer: "
    + ", ".join(f"`{e}`" for e in ATTEMPT_ERRORS)
    + "; None when the endpoint answered (its status code)."
)


class AttemptView(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None = Field(description=ERROR_DESCRIPTION)


class DeliveryView(BaseModel):
    delivery_id: UUID
    subscription_id: UUID
    event_id: UUID
    event_type: str
    status: DeliveryStatus
    attempts: int = Field(description="How many times the endpoint was called.")
    last_status_code: int | None
    last_error: str | None = Field(description=ERROR_DESCRIPTION)
    next_attempt_at: datetime | None = Field(description="None once delivered or abandoned.")
    scheduled_at: datetime
    updated_at: datetime
    abandoned_reason: str | None = None
    history: list[AttemptView]


def delivery_writes(delivery: WebhookDelivery, new_events: Sequence[Any]) -> list[RowWrite]:
    """The rows a delivery's new events change: its log row and one row per attempt."""
    row: dict[str, Any] = {
        "delivery_id": str(delivery.id),
        "brand_id": delivery.brand_id,
        "subscription_id": delivery.subscription_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "due_at": _due(delivery),
        "scheduled_at": delivery.created_on,
        "updated_at": delivery.modified_on,
    }
    attempts: list[RowWrite] = []
    for event in new_events:
        if event.originator_id != delivery.id:
            continue
        kind = event_type_of(event)
        if kind == "WebhookDeliveryAttempted":
            row["last_status_code"] = event.status_code
            row["last_error"] = event.error
            attempts.append(
                Upsert(  # idempotent, so that a backfill may meet rows already there
                    ATTEMPTS.name,
                    {
                        "delivery_id": str(delivery.id),
                        "attempt": event.attempt,
                        "attempted_at": event.attempted_at,
                        "status_code": event.status_code,
                        "error": event.error,
                    },
                )
            )
        elif kind == "WebhookDeliveryAbandoned":
            row["abandoned_reason"] = event.reason
    return [Upsert(DELIVERIES.name, row), *attempts]


def backfill_deliveries(app: ServiceApplication, page_size: int = 500) -> int:
    """Fill an empty delivery log from the log (a store written before the tables existed)."""
    store = app.read_models
    if store.select_rows(DELIVERIES.name, {}, limit=1):
        return 0
    filled, start = 0, 1
    while True:
        found = app.recorder.select_notifications(
            start, page_size, topics=["intake.WebhookDelivery.WebhookDeliveryScheduled"]
        )
        for notification in found:
            delivery: object = app.get_or_none(UUID(str(notification.originator_id)))
            if isinstance(delivery, WebhookDelivery):
                events = list(app.events.get(delivery.id))
                store.write(delivery_writes(delivery, events))
                filled += 1
        if len(found) < page_size:
            return filled
        start = found[-1].id + 1


def _due(delivery: WebhookDelivery) -> float | None:
    if delivery.status != "pending" or delivery.next_attempt_at is None:
        return None
    return delivery.next_attempt_at.timestamp()


class DeliveryLog:
    """Deliveries by brand for the API, and due deliveries leased to workers (blocking)."""

    def __init__(self, store: ReadModelRecorder) -> None:
        self.store = store

    def claim_due(
        self, owner: str, now: datetime, limit: int, skip_brands: Collection[str] = ()
    ) -> list[tuple[UUID, str]]:
        """Lease up to `limit` deliveries due by `now` to `owner` (nobody else gets them),
        none of `skip_brands`; each with its brand."""
        if limit <= 0:
            return []
        where = {"brand_id": Cmp("not in", sorted(skip_brands))} if skip_brands else {}
        rows = self.store.claim(
            DELIVERIES.name, owner, now.timestamp(), LEASE_S, limit, where=where
        )
        return [(UUID(r["delivery_id"]), r["brand_id"]) for r in rows]

    def release(self, delivery_id: UUID, owner: str, retry_at: datetime | None = None) -> None:
        """The attempt is over (`retry_at`: it went unrecorded, try again then)."""
        values = {} if retry_at is None else {"due_at": retry_at.timestamp()}
        self.store.release(DELIVERIES.name, {"delivery_id": str(delivery_id)}, owner, values)

    def seconds_until_due(
        self, now: datetime, skip_brands: Collection[str] = ()
    ) -> float | None:
        """How long until the next unleased delivery (none of `skip_brands`) is due; None
        when nothing is queued."""
        where: dict[str, Any] = {"due_at": Cmp(">", 0.0), "lease_owner": None}
        if skip_brands:
            where["brand_id"] = Cmp("not in", sorted(skip_brands))
        rows = self.store.select_rows(
            DELIVERIES.name,
            where,
            order_by=("due_at",),
            limit=1,
        )
        return rows[0]["due_at"] - now.timestamp() if rows else None

    def page(
        self, brand_id: str, status: DeliveryStatus | None, cursor: str | None, limit: int
    ) -> tuple[list[DeliveryView], str | None]:
        """A brand's deliveries, oldest first, and the cursor of the next page."""
        where: dict[str, Any] = {"brand_id": brand_id}
        if status is not None:
            where["status"] = status
        try:
            page = self.store.page(PageQuery(DELIVERIES.name, ORDER, where, cursor, limit))
        except InvalidCursor as error:
            raise InvalidDeliveryCursor(str(error)) from None
        ids = [r["delivery_id"] for r in page.rows]
        history: dict[str, list[AttemptView]] = {i: [] for i in ids}
        for attempt in self.store.select_rows(
            ATTEMPTS.name, {"delivery_id": Cmp("in", ids)}, order_by=("delivery_id", "attempt")
        ):
            attempt["error"] = coarse_error(attempt["error"])
            history[attempt.pop("delivery_id")].append(AttemptView(**attempt))
        views = [_view(r, history[r["delivery_id"]]) for r in page.rows]
        return views, page.cursor


def _view(row: dict[str, Any], history: list[AttemptView]) -> DeliveryView:
    return DeliveryView(
        delivery_id=UUID(row["delivery_id"]),
        subscription_id=UUID(row["subscription_id"]),
        event_id=UUID(row["event_id"]),
        event_type=row["event_type"],
        status=row["status"],
        attempts=row["attempts"],
        last_status_code=row["last_status_code"],
        last_error=coarse_error(row["last_error"]),
        next_attempt_at=row["next_attempt_at"],
        scheduled_at=row["scheduled_at"],
        updated_at=row["updated_at"],
        abandoned_reason=row["abandoned_reason"],
        history=history,
    )


def coarse_error(error: str | None) -> str | None:
    """An attempt's error as the brand may see it (attempts recorded before the errors
    were made coarse hold the transport's own text, which can map an internal network)."""
    if error is None or error in ATTEMPT_ERRORS:
        return error
    return TIMEOUT if "Timeout" in error else CONNECTION_FAILED


def delivery_log(runtime: Runtime) -> DeliveryLog:
    """The delivery log of the runtime's store, shared by the worker and the API."""
    return DeliveryLog(runtime.application.read_models)
