"""Webhook aggregates: a brand's subscriptions, its directory (what fan-out reads), deliveries.

Pure: times, ids and jitter draws come in as arguments.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.intake.errors import DeliveryConcluded, TooManySubscriptions
from services.intake.webhooks.policy import BackoffPolicy
from shared.inputs import InputClocked
from shared.store import EventMeta, derive_id

MAX_SUBSCRIPTIONS_PER_BRAND = 20


class WebhookSubscription(Aggregate):
    """A brand's endpoint for some event types; its signing secret is stored encrypted."""

    TOPIC = "intake.WebhookSubscription"

    class Event(InputClocked, Aggregate.Event):
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

    class Event(InputClocked, Aggregate.Event):
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

    class Event(InputClocked, Aggregate.Event):
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

