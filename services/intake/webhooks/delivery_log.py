"""The webhook delivery log (read model): every delivery with its attempts, and what is due.

`DeliveryLog` is what the worker and the API use; `InMemoryDeliveryLog` keeps it in
memory, caught up from the store's delivery events.
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol
from uuid import UUID

from pydantic import BaseModel, Field

from shared.service import Runtime
from shared.store import ServiceApplication, event_type_of

DELIVERY_TOPICS = [
    f"intake.WebhookDelivery.{name}"
    for name in (
        "WebhookDeliveryScheduled",
        "WebhookDeliveryAttempted",
        "WebhookDelivered",
        "WebhookRetryScheduled",
        "WebhookDeliveryAbandoned",
    )
]
DeliveryStatus = Literal["pending", "delivered", "abandoned"]


class AttemptView(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None


class DeliveryView(BaseModel):
    delivery_id: UUID
    subscription_id: UUID
    event_id: UUID
    event_type: str
    status: DeliveryStatus
    attempts: int = Field(description="How many times the endpoint was called.")
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="None once delivered or abandoned.")
    scheduled_at: datetime
    updated_at: datetime
    abandoned_reason: str | None = None
    history: list[AttemptView]


@dataclass
class DeliveryRow:
    position: int
    view: DeliveryView
    brand_id: str




class DeliveryLog(Protocol):
    """Deliveries by brand for the API, and the due-queue the worker takes from."""

    def catch_up(self, app: ServiceApplication) -> None:
        """Apply delivery events recorded since the last call (blocking: use a thread)."""

    def take_due(self, now: datetime, limit: int) -> list[UUID]:
        """Up to `limit` pending deliveries due by `now`, marked in flight."""

    def release(self, delivery_id: UUID, retry_at: datetime | None = None) -> None:
        """The attempt is over: queue what comes next (`retry_at` if it went unrecorded)."""

    def seconds_until_due(self, now: datetime) -> float | None:
        """How long until the next delivery is due; None when nothing is queued."""

    def page(
        self, brand_id: str, status: DeliveryStatus | None, after: int, limit: int
    ) -> list[DeliveryRow]:
        """A brand's deliveries after position `after`, oldest first."""


@dataclass
class InMemoryDeliveryLog:
    """Every delivery with its attempts, plus the due-queue, in memory (rebuilt at start)."""

    rows: dict[UUID, DeliveryRow] = field(default_factory=dict)
    position: int = 0
    due: list[tuple[datetime, UUID]] = field(default_factory=list)
    in_flight: set[UUID] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def catch_up(self, app: ServiceApplication, page_size: int = 500) -> None:
        """Apply delivery events recorded since the last call (blocking: use a thread)."""
        with self.lock:
            while True:
                page = app.recorder.select_notifications(
                    self.position + 1, page_size, topics=DELIVERY_TOPICS
                )
                for notification in page:
                    self._apply(app.mapper.to_domain_event(notification), notification.id)
                    self.position = notification.id
                if len(page) < page_size:
                    return

    def _apply(self, stored: Any, position: int) -> None:
        kind = event_type_of(stored)
        if kind == "WebhookDeliveryScheduled":
            self._scheduled(stored, position)
            return
        row = self.rows[stored.originator_id]
        view = row.view
        view.updated_at = stored.timestamp
        if kind == "WebhookDeliveryAttempted":
            view.attempts = stored.attempt
            view.last_status_code = stored.status_code
            view.last_error = stored.error
            view.next_attempt_at = None
            view.history.append(
                AttemptView(
                    attempt=stored.attempt,
                    attempted_at=stored.attempted_at,
                    status_code=stored.status_code,
                    error=stored.error,
                )
            )
        elif kind == "WebhookRetryScheduled":
            self._reschedule(row, stored.next_attempt_at)
        elif kind == "WebhookDelivered":
            view.status = "delivered"
        elif kind == "WebhookDeliveryAbandoned":
            view.status = "abandoned"
            view.abandoned_reason = stored.reason

    def _scheduled(self, stored: Any, position: int) -> None:
        view = DeliveryView(
            delivery_id=stored.originator_id,
            subscription_id=UUID(stored.subscription_id),
            event_id=UUID(stored.event_id),
            event_type=stored.event_type,
            status="pending",
            attempts=0,
            last_status_code=None,
            last_error=None,
            next_attempt_at=None,
            scheduled_at=stored.timestamp,
            updated_at=stored.timestamp,
            history=[],
        )
        row = DeliveryRow(position, view, stored.meta.brand_id)
        self.rows[view.delivery_id] = row
        self._reschedule(row, stored.due_at)

    def _reschedule(self, row: DeliveryRow, at: datetime) -> None:
        row.view.next_attempt_at = at
        heapq.heappush(self.due, (at, row.view.delivery_id))

    def take_due(self, now: datetime, limit: int) -> list[UUID]:
        """Up to `limit` pending deliveries due by `now`, marked in flight."""
        taken: list[UUID] = []
        with self.lock:
            while self.due and self.due[0][0] <= now and len(taken) < limit:
                at, delivery_id = heapq.heappop(self.due)
                view = self.rows[delivery_id].view
                current = view.status == "pending" and view.next_attempt_at == at
                if current and delivery_id not in self.in_flight:
                    self.in_flight.add(delivery_id)
                    taken.append(delivery_id)
        return taken

    def release(self, delivery_id: UUID, retry_at: datetime | None = None) -> None:
        """The attempt is over: queue what comes next (`retry_at` if it went unrecorded).

        Queued again even if the retry is already queued: `take_due` drops entries of
        deliveries in flight, and the retry may have been caught up while in flight.
        """
        with self.lock:
            self.in_flight.discard(delivery_id)
            row = self.rows[delivery_id]
            next_at = retry_at or row.view.next_attempt_at
            if row.view.status == "pending" and next_at is not None:
                self._reschedule(row, next_at)

    def seconds_until_due(self, now: datetime) -> float | None:
        with self.lock:
            return (self.due[0][0] - now).total_seconds() if self.due else None

    def page(
        self, brand_id: str, status: DeliveryStatus | None, after: int, limit: int
    ) -> list[DeliveryRow]:
        with self.lock:
            rows = [
                DeliveryRow(r.position, r.view.model_copy(deep=True), r.brand_id)
                for r in self.rows.values()
                if r.brand_id == brand_id
                and r.position > after
                and (status is None or r.view.status == status)
            ]
        rows.sort(key=lambda r: r.position)
        return rows[:limit]



def delivery_log(runtime: Runtime) -> DeliveryLog:
    """The runtime's delivery log, shared by the worker and the API."""
    found = runtime.extras.get("webhook_delivery_log")
    if not isinstance(found, InMemoryDeliveryLog):
        found = runtime.extras["webhook_delivery_log"] = InMemoryDeliveryLog()
    return found
