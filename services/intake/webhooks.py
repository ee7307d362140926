"""Webhooks to brand portals: subscriptions, exactly-once fan-out, signed retried deliveries.

The consumer step records a `WebhookDelivery` per matching subscription (with the event's
tracking position); a separate background worker POSTs due deliveries, signed, and
records every attempt, retrying with jittered backoff for 24 h. The event flow never
waits for a brand's endpoint.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import httpx
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, event
from fastapi import APIRouter, Query, Request, Response
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.intake.api import App, BrandId
from services.intake.application import IntakeApplication
from shared.contracts import PAYLOADS, ContractEvent
from shared.errors import Conflict, NotFound, error_responses
from shared.security import WEBHOOK_SIGNATURE_HEADER, sign_webhook
from shared.service import Runtime, runtime_of
from shared.store import EventMeta, ServiceApplication, derive_id, event_type_of
from shared.telemetry import context_for_trace, inject_headers, span

log = logging.getLogger("aftersales.webhooks")
MAX_SUBSCRIPTIONS_PER_BRAND = 20
PARALLEL_DELIVERIES = 8
REQUEST_TIMEOUT_S = 10.0
SECRET_PREFIX = "whsec_"  # noqa: S105 - a recognisable prefix, not a secret

# --- the retry policy (pure) ------------------------------------------------------------


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff with full jitter; give up only after 24 h of attempts."""

    base_delay_s: float = 2.0
    cap_s: float = 3600.0
    give_up_after: timedelta = timedelta(hours=24)

    def delay_s(self, attempt: int, draw: float) -> float:
        """The wait after failed attempt number `attempt` (1-based), for a draw in [0, 1]."""
        if not 0.0 <= draw <= 1.0:
            raise ValueError(f"the jitter draw must be in [0, 1], got {draw}")
        ceiling = min(self.cap_s, self.base_delay_s * 2.0 ** min(attempt - 1, 64))
        return draw * ceiling

    def next_attempt_at(
        self, attempt: int, first_attempt_at: datetime, attempted_at: datetime, draw: float
    ) -> datetime | None:
        """When to try again after a failed attempt, or None: give up (24 h have passed)."""
        if attempted_at - first_attempt_at >= self.give_up_after:
            return None
        return attempted_at + timedelta(seconds=self.delay_s(attempt, draw))


# --- the domain -------------------------------------------------------------------------


class WebhookError(Exception):
    """A webhook command the rules refuse."""


class TooManySubscriptions(WebhookError):
    """The brand has as many subscriptions as it may have."""


class DeliveryConcluded(WebhookError):
    """The delivery was already delivered or abandoned."""


class WebhookSubscription(Aggregate):
    """A brand's endpoint for some event types; its signing secret is stored encrypted."""

    TOPIC = "intake.WebhookSubscription"

    class Event(Aggregate.Event):
        TOPIC = "intake.WebhookSubscription.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.WebhookSubscription.Created"

    @event("WebhookSubscribed", topic="intake.WebhookSubscription.WebhookSubscribed")
    def __init__(
        self, id: UUID, brand_id: str, url: str, event_types: list[str], secret_ciphertext: str
    ) -> None:
        """A brand registered a webhook URL for these event types."""
        self.brand_id = brand_id
        self.url = url
        self.event_types = event_types
        self.secret_ciphertext = secret_ciphertext
        self.active = True

    @event("WebhookUnsubscribed", topic="intake.WebhookSubscription.WebhookUnsubscribed")
    def unsubscribe(self, reason: str) -> None:
        """The brand removed the webhook; pending deliveries to it are abandoned."""
        self.active = False


class WebhookDirectory(Aggregate):
    """Which of a brand's subscriptions want which event types: what fan-out reads."""

    TOPIC = "intake.WebhookDirectory"

    class Event(Aggregate.Event):
        TOPIC = "intake.WebhookDirectory.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.WebhookDirectory.Created"

    @event("WebhookDirectoryOpened", topic="intake.WebhookDirectory.WebhookDirectoryOpened")
    def __init__(self, id: UUID, brand_id: str) -> None:
        """The brand's first webhook was registered."""
        self.brand_id = brand_id
        self.subscriptions: dict[str, list[str]] = {}

    def add(self, subscription_id: str, event_types: list[str]) -> None:
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS_PER_BRAND:
            raise TooManySubscriptions(
                f"a brand may have at most {MAX_SUBSCRIPTIONS_PER_BRAND} webhooks"
            )
        self._add(subscription_id=subscription_id, event_types=event_types)

    @event("WebhookSubscriptionListed", topic="intake.WebhookDirectory.WebhookSubscriptionListed")
    def _add(self, subscription_id: str, event_types: list[str]) -> None:
        """A subscription now receives its event types."""
        self.subscriptions[subscription_id] = event_types

    @event(
        "WebhookSubscriptionUnlisted", topic="intake.WebhookDirectory.WebhookSubscriptionUnlisted"
    )
    def remove(self, subscription_id: str) -> None:
        """A subscription receives nothing any more."""
        self.subscriptions.pop(subscription_id, None)

    def subscribers_of(self, event_type: str) -> list[str]:
        return [s for s, types in self.subscriptions.items() if event_type in types]


class WebhookDelivery(Aggregate):
    """One event on its way to one subscription: every attempt, then delivered or abandoned."""

    TOPIC = "intake.WebhookDelivery"

    class Event(Aggregate.Event):
        TOPIC = "intake.WebhookDelivery.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.WebhookDelivery.Created"

    @event("WebhookDeliveryScheduled", topic="intake.WebhookDelivery.WebhookDeliveryScheduled")
    def __init__(
        self,
        id: UUID,
        meta: EventMeta,
        subscription_id: str,
        event_id: str,
        event_type: str,
        body: str,
        due_at: datetime,
    ) -> None:
        """An event matched a subscription: its contract JSON is to be delivered."""
        self.brand_id = meta.brand_id
        self.trace_id = meta.trace_id
        self.subscription_id = subscription_id
        self.event_id = event_id
        self.event_type = event_type
        self.body = body
        self.status: Literal["pending", "delivered", "abandoned"] = "pending"
        self.next_attempt_at: datetime | None = due_at
        self.attempts = 0
        self.first_attempt_at: datetime | None = None

    def record_attempt(
        self,
        attempted_at: datetime,
        status_code: int | None,
        error: str | None,
        draw: float,
        policy: BackoffPolicy,
    ) -> None:
        """Record what the endpoint answered; then delivered, retry later, or give up."""
        if self.status != "pending":
            raise DeliveryConcluded(f"delivery {self.id} is already {self.status}")
        self._attempted(
            attempt=self.attempts + 1,
            attempted_at=attempted_at,
            status_code=status_code,
            error=error,
        )
        if status_code is not None and 200 <= status_code < 300:
            self._delivered(delivered_at=attempted_at)
            return
        assert self.first_attempt_at is not None
        retry_at = policy.next_attempt_at(self.attempts, self.first_attempt_at, attempted_at, draw)
        if retry_at is None:
            self.abandon(attempted_at, f"no success after {self.attempts} attempts over 24 h")
        else:
            self._retry(next_attempt_at=retry_at)

    @event("WebhookDeliveryAttempted", topic="intake.WebhookDelivery.WebhookDeliveryAttempted")
    def _attempted(
        self, attempt: int, attempted_at: datetime, status_code: int | None, error: str | None
    ) -> None:
        """The endpoint was called once: its status code, or the transport error."""
        self.attempts = attempt
        self.first_attempt_at = self.first_attempt_at or attempted_at
        self.next_attempt_at = None

    @event("WebhookDelivered", topic="intake.WebhookDelivery.WebhookDelivered")
    def _delivered(self, delivered_at: datetime) -> None:
        """The endpoint acknowledged the event with a 2xx."""
        self.status = "delivered"

    @event("WebhookRetryScheduled", topic="intake.WebhookDelivery.WebhookRetryScheduled")
    def _retry(self, next_attempt_at: datetime) -> None:
        """The attempt failed; the next one is due then (backoff with jitter)."""
        self.next_attempt_at = next_attempt_at

    def abandon(self, abandoned_at: datetime, reason: str) -> None:
        if self.status != "pending":
            raise DeliveryConcluded(f"delivery {self.id} is already {self.status}")
        self._abandon(abandoned_at=abandoned_at, reason=reason)

    @event("WebhookDeliveryAbandoned", topic="intake.WebhookDelivery.WebhookDeliveryAbandoned")
    def _abandon(self, abandoned_at: datetime, reason: str) -> None:
        """Given up: 24 h without success, or the subscription is gone."""
        self.status = "abandoned"
        self.next_attempt_at = None


def directory_id(brand_id: str) -> UUID:
    return derive_id("webhook-directory", brand_id)


# --- the delivery log (read model, rebuilt from the store) ----------------------------

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


@dataclass
class DeliveryLog:
    """Every delivery with its attempts, plus the due-queue the worker takes from."""

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
    if not isinstance(found, DeliveryLog):
        found = runtime.extras["webhook_delivery_log"] = DeliveryLog()
    return found


# --- the service layer ------------------------------------------------------------------


def register_fan_out(app: ServiceApplication) -> None:
    """Fan every contract event out to its brand's matching subscriptions."""
    for event_type in PAYLOADS:
        app.on(event_type, partial(fan_out, app))


def fan_out(
    app: ServiceApplication, contract: ContractEvent, processing: ProcessingEvent[UUID]
) -> None:
    """Schedule one delivery per matching subscription, saved with the tracking position."""
    directory = app.get_or_none(directory_id(contract.brand_id))
    if not isinstance(directory, WebhookDirectory):
        return
    for subscription_id in directory.subscribers_of(contract.type):
        delivery = WebhookDelivery(
            id=derive_id(subscription_id, contract.event_id),
            meta=EventMeta.caused_by(contract),
            subscription_id=subscription_id,
            event_id=str(contract.event_id),
            event_type=contract.type,
            body=contract.to_json().decode(),
            due_at=contract.occurred_at,
        )
        processing.collect_events(delivery)


def subscribe(
    app: IntakeApplication, brand_id: str, url: str, event_types: list[str]
) -> tuple[WebhookSubscription, str]:
    """Register a webhook; returns it with its signing secret (shown to the brand once)."""
    subscription_id = uuid4()
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    ciphertext = _seal_secret(app, subscription_id, secret)

    def command() -> WebhookSubscription:
        directory = app.get_or_none(directory_id(brand_id)) or WebhookDirectory(
            id=directory_id(brand_id), brand_id=brand_id
        )
        subscription = WebhookSubscription(
            id=subscription_id,
            brand_id=brand_id,
            url=url,
            event_types=event_types,
            secret_ciphertext=ciphertext,
        )
        try:
            directory.add(str(subscription_id), event_types)
        except TooManySubscriptions as refused:
            raise Conflict(str(refused)) from refused
        app.save(subscription, directory)
        return subscription

    return app.run_command(command), secret


def unsubscribe(app: IntakeApplication, brand_id: str, subscription_id: UUID) -> None:
    """Remove a brand's webhook and destroy its secret; another brand's is NotFound."""

    def command() -> None:
        subscription = _subscription(app, brand_id, subscription_id)
        directory: WebhookDirectory = app.repository.get(directory_id(brand_id))
        subscription.unsubscribe(reason="deleted by the brand")
        directory.remove(str(subscription_id))
        app.save(subscription, directory)

    app.run_command(command)
    app.keys.delete(_secret_key_name(subscription_id))


def subscriptions(app: IntakeApplication, brand_id: str) -> list[WebhookSubscription]:
    directory = app.get_or_none(directory_id(brand_id))
    if not isinstance(directory, WebhookDirectory):
        return []
    found: list[WebhookSubscription] = [
        app.repository.get(UUID(s)) for s in directory.subscriptions
    ]
    return sorted(found, key=lambda s: s.created_on)


def _subscription(
    app: IntakeApplication, brand_id: str, subscription_id: UUID
) -> WebhookSubscription:
    subscription = app.get_or_none(subscription_id)
    if (
        not isinstance(subscription, WebhookSubscription)
        or subscription.brand_id != brand_id
        or not subscription.active
    ):
        raise NotFound(f"webhook {subscription_id} not found")
    return subscription


def _secret_key_name(subscription_id: UUID) -> str:
    return f"webhook-secret:{subscription_id}"


def _seal_secret(app: IntakeApplication, subscription_id: UUID, secret: str) -> str:
    key = app.cipher.new_subject_key()
    app.keys.put(_secret_key_name(subscription_id), app.cipher.wrap_key(key))
    return app.cipher.encrypt_field(key, secret, f"{subscription_id}:secret")


def _open_secret(app: IntakeApplication, subscription: WebhookSubscription) -> bytes | None:
    wrapped = app.keys.get(_secret_key_name(subscription.id))
    if wrapped is None:
        return None
    key = app.cipher.unwrap_key(wrapped)
    return app.cipher.decrypt_field(
        key, subscription.secret_ciphertext, f"{subscription.id}:secret"
    ).encode()


@dataclass(frozen=True)
class Attempt:
    """Everything one POST needs, read from the store."""

    delivery_id: UUID
    url: str
    secret: bytes
    body: bytes
    event_type: str
    event_id: str
    trace_id: str


def prepare_attempt(app: IntakeApplication, delivery_id: UUID, now: datetime) -> Attempt | None:
    """The next attempt of a pending delivery; None (abandoning it) if it can't be made."""

    def command() -> Attempt | None:
        delivery = app.get_or_none(delivery_id)
        if not isinstance(delivery, WebhookDelivery) or delivery.status != "pending":
            return None
        subscription = app.get_or_none(UUID(delivery.subscription_id))
        if (
            not isinstance(subscription, WebhookSubscription)
            or not subscription.active
            or subscription.brand_id != delivery.brand_id  # never another brand's endpoint
        ):
            _abandon(delivery, now, "the webhook was deleted")
            return None
        secret = _open_secret(app, subscription)
        if secret is None:
            _abandon(delivery, now, "the webhook's secret was destroyed")
            return None
        return Attempt(
            delivery_id=delivery_id,
            url=subscription.url,
            secret=secret,
            body=delivery.body.encode(),
            event_type=delivery.event_type,
            event_id=delivery.event_id,
            trace_id=delivery.trace_id,
        )

    def _abandon(delivery: WebhookDelivery, now: datetime, reason: str) -> None:
        delivery.abandon(now, reason)
        app.save(delivery)

    return app.run_command(command)


def record_attempt(
    app: IntakeApplication,
    delivery_id: UUID,
    attempted_at: datetime,
    status_code: int | None,
    error: str | None,
    draw: float,
    policy: BackoffPolicy,
) -> None:
    def command() -> None:
        delivery: WebhookDelivery = app.repository.get(delivery_id)
        if delivery.status == "pending":
            delivery.record_attempt(attempted_at, status_code, error, draw, policy)
            app.save(delivery)

    app.run_command(command)


# --- the delivery worker ----------------------------------------------------------------


async def deliver_webhooks(runtime: Runtime) -> None:
    """Background job: POST due deliveries, a few at once, until the service stops."""
    app = runtime.application
    assert isinstance(app, IntakeApplication)
    worker = DeliveryWorker(app, delivery_log(runtime), runtime.settings.webhook_base_delay_s)
    await worker.run(runtime.stop)


class DeliveryWorker:
    """Takes due deliveries from the log, POSTs them concurrently, records each attempt."""

    def __init__(self, app: IntakeApplication, log: DeliveryLog, base_delay_s: float) -> None:
        self.app = app
        self.log = log
        self.policy = BackoffPolicy(base_delay_s=base_delay_s)
        self.wake = asyncio.Event()
        self.in_flight: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        def recorded() -> None:  # called from whichever thread recorded events
            loop.call_soon_threadsafe(self.wake.set)

        self.app.add_listener(recorded)
        async with httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT_S, follow_redirects=False, trust_env=False
        ) as client:
            while not stop.is_set():
                self.wake.clear()
                wait = await self._dispatch(client)
                await _nap(self.wake, stop, wait)
            if self.in_flight:
                await asyncio.gather(*self.in_flight, return_exceptions=True)

    async def _dispatch(self, client: httpx.AsyncClient) -> float:
        """Start what is due; return how long to sleep before looking again."""
        try:
            await asyncio.to_thread(self.log.catch_up, self.app)
        except Exception:
            log.exception("reading the webhook delivery log failed")
            return 1.0
        now = datetime.now(UTC)
        free = PARALLEL_DELIVERIES - len(self.in_flight)
        for delivery_id in self.log.take_due(now, free):
            task = asyncio.create_task(self._attempt(client, delivery_id))
            self.in_flight.add(task)
            task.add_done_callback(self._finished)
        until_due = self.log.seconds_until_due(now)
        return 1.0 if until_due is None else min(1.0, max(until_due, 0.005))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.wake.set()

    async def _attempt(self, client: httpx.AsyncClient, delivery_id: UUID) -> None:
        retry_at: datetime | None = None
        try:
            attempt = await asyncio.to_thread(
                prepare_attempt, self.app, delivery_id, datetime.now(UTC)
            )
            if attempt is not None:
                attempted_at = datetime.now(UTC)
                status_code, error = await post(client, attempt, int(time.time()))
                await asyncio.to_thread(
                    record_attempt,
                    self.app,
                    delivery_id,
                    attempted_at,
                    status_code,
                    error,
                    random.random(),
                    self.policy,
                )
            await asyncio.to_thread(self.log.catch_up, self.app)
        except Exception:
            log.exception("webhook delivery %s could not be attempted or recorded", delivery_id)
            retry_at = datetime.now(UTC) + timedelta(seconds=5)
        finally:
            self.log.release(delivery_id, retry_at)


async def post(
    client: httpx.AsyncClient, attempt: Attempt, timestamp: int
) -> tuple[int | None, str | None]:
    """POST the signed body once; the status code, or the transport error."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "aftersales-webhooks/1",
        WEBHOOK_SIGNATURE_HEADER: sign_webhook(attempt.secret, timestamp, attempt.body),
        "X-Aftersales-Event-Type": attempt.event_type,
        "X-Aftersales-Event-Id": attempt.event_id,
        "X-Aftersales-Delivery-Id": str(attempt.delivery_id),
    }
    with span(
        f"webhook {attempt.event_type}",
        context_for_trace(attempt.trace_id),
        SpanKind.CLIENT,
        **{"aftersales.delivery_id": str(attempt.delivery_id)},
    ) as current:
        inject_headers(headers)
        try:
            # Streamed and not read: an endpoint's response body is none of our business.
            async with client.stream(
                "POST", attempt.url, content=attempt.body, headers=headers
            ) as response:
                current.set_attribute("http.status_code", response.status_code)
                return response.status_code, None
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"[:500]


async def _nap(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    _, pending = await asyncio.wait(waiters, timeout=seconds, return_when="FIRST_COMPLETED")
    for waiter in pending:
        waiter.cancel()


# --- the HTTP API -----------------------------------------------------------------------

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class NewSubscription(BaseModel):
    """A webhook: where to POST, and which event types."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000, description="An http or https URL.")
    event_types: list[str] = Field(
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
    responses=error_responses(401, 409, 413, 422),
    summary="Register a webhook; its signing secret is returned only in this response",
)
async def post_webhook(new: NewSubscription, brand: BrandId, app: App) -> CreatedSubscription:
    """No `Idempotency-Key`: a replayed response would have to keep the secret in plaintext."""
    subscription, secret = await asyncio.to_thread(subscribe, app, brand, new.url, new.event_types)
    return CreatedSubscription(**_view(subscription).model_dump(), secret=secret)


@router.get("", responses=error_responses(401))
async def get_webhooks(brand: BrandId, app: App) -> list[SubscriptionView]:
    """The brand's webhooks (without secrets)."""
    return [_view(s) for s in await asyncio.to_thread(subscriptions, app, brand)]


@router.get("/deliveries", responses=error_responses(401, 422))
async def get_deliveries(
    brand: BrandId,
    app: App,
    request: Request,
    status: DeliveryStatus | None = None,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryPage:
    """The brand's deliveries, oldest first, each with its attempts and what comes next."""
    deliveries = delivery_log(runtime_of(request))
    await asyncio.to_thread(deliveries.catch_up, app)
    rows = deliveries.page(brand, status, int(cursor or 0), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return DeliveryPage(
        items=[r.view for r in rows], next_cursor=str(rows[-1].position) if more else None
    )


@router.delete("/{subscription_id}", status_code=204, responses=error_responses(401, 404, 422))
async def delete_webhook(subscription_id: UUID, brand: BrandId, app: App) -> Response:
    """Remove a webhook; its pending deliveries are abandoned and its secret destroyed."""
    await asyncio.to_thread(unsubscribe, app, brand, subscription_id)
    return Response(status_code=204)
