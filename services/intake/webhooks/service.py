"""Webhook use cases: subscribe, unsubscribe, fan events out, prepare and record attempts.

A mixin of `IntakeApplication`: it needs the application's store, its PII cipher and
its key store (each subscription's signing secret is sealed under a key of its own).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.intake.commands import SubscribeWebhook, UnsubscribeWebhook
from services.intake.errors import WebhookNotFound
from services.intake.vault import KeyStore
from services.intake.webhooks.domain import (
    WebhookDelivery,
    WebhookDirectory,
    WebhookSubscription,
    directory_id,
)
from services.intake.webhooks.policy import BackoffPolicy
from shared.contracts import PAYLOADS, ContractEvent
from shared.inputs import ReceivedCommand
from shared.security import PiiCipher
from shared.store import EventMeta, ServiceApplication, derive_id

SECRET_PREFIX = "whsec_"  # noqa: S105 - a recognisable prefix, not a secret


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


class WebhookUseCases(ServiceApplication):
    """Subscriptions, fan-out and delivery bookkeeping (the POSTs are the worker's)."""

    cipher: PiiCipher
    keys: KeyStore

    def register_fan_out(self) -> None:
        """Fan every contract event out to its brand's matching subscriptions."""
        for event_type in PAYLOADS:
            self.on(event_type, self.fan_out)

    def fan_out(self, contract: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        """Schedule one delivery per matching subscription, saved with the tracking position.

        A delivery's id derives from the subscription and the event: the same contract event
        arriving again at another stream position (republished after the broker's duplicate
        window) finds its delivery scheduled and is not delivered twice.
        """
        directory = self.get_or_none(directory_id(contract.brand_id))
        if not isinstance(directory, WebhookDirectory):
            return
        for subscription_id in directory.subscribers_of(contract.type):
            delivery_id = derive_id(subscription_id, contract.event_id)
            if self.get_or_none(delivery_id) is not None:
                continue  # this event was fanned out to this subscription already
            delivery = WebhookDelivery(
                id=delivery_id,
                meta=EventMeta.caused_by(contract),
                subscription_id=subscription_id,
                event_id=str(contract.event_id),
                event_type=contract.type,
                body=contract.to_json().decode(),
                due_at=contract.occurred_at,
            )
            processing.collect_events(delivery)

    def register_webhook_commands(self) -> None:
        self.command("webhook.subscribe", self._on_subscribe)
        self.command("webhook.unsubscribe", self._on_unsubscribe)
        self.command("webhook.abandon", self._on_abandon)
        self.command("webhook.attempt", self._on_attempt)

    def subscribe_webhook(self, command: SubscribeWebhook) -> tuple[WebhookSubscription, str]:
        """Register a webhook; returns it with its signing secret (shown to the brand once).

        Its id was drawn by the router; its secret is drawn and sealed here, before the
        command is recorded: the recorded command holds the ciphertext only.
        """
        subscription_id = command.subscription_id
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        args = {
            "brand_id": command.brand_id,
            "subscription_id": str(subscription_id),
            "url": command.url,
            "event_types": list(command.event_types),
            "secret_ciphertext": self._seal_webhook_secret(subscription_id, secret),
        }
        subscription: WebhookSubscription = self.execute(
            "webhook.subscribe", args, command.at, str(subscription_id)
        )
        return subscription, secret

    def _on_subscribe(
        self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]
    ) -> WebhookSubscription:
        args = cmd.args
        brand_id = args["brand_id"]
        directory = self.get_or_none(directory_id(brand_id)) or WebhookDirectory(
            id=directory_id(brand_id), brand_id=brand_id
        )
        subscription = WebhookSubscription(
            id=UUID(args["subscription_id"]),
            brand_id=brand_id,
            url=args["url"],
            event_types=args["event_types"],
            secret_ciphertext=args["secret_ciphertext"],
        )
        directory.add(args["subscription_id"], args["event_types"])
        processing.collect_events(subscription, directory)
        return subscription

    def unsubscribe_webhook(self, command: UnsubscribeWebhook) -> None:
        """Remove a brand's webhook and destroy its secret; another brand's is not found."""
        args = {"brand_id": command.brand_id, "subscription_id": str(command.subscription_id)}
        self.execute("webhook.unsubscribe", args, command.at)
        self.keys.delete(_secret_key_name(command.subscription_id))

    def _on_unsubscribe(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        brand_id, subscription_id = cmd.args["brand_id"], cmd.args["subscription_id"]
        subscription = self.webhook(brand_id, UUID(subscription_id))
        directory: WebhookDirectory = self.repository.get(directory_id(brand_id))
        subscription.unsubscribe(reason="deleted by the brand")
        directory.remove(subscription_id)
        processing.collect_events(subscription, directory)

    def webhooks(self, brand_id: str) -> list[WebhookSubscription]:
        """The brand's active webhooks, oldest first."""
        directory = self.get_or_none(directory_id(brand_id))
        if not isinstance(directory, WebhookDirectory):
            return []
        found: list[WebhookSubscription] = [
            self.repository.get(UUID(s)) for s in directory.subscriptions
        ]
        return sorted(found, key=lambda s: s.created_on)

    def webhook(self, brand_id: str, subscription_id: UUID) -> WebhookSubscription:
        subscription = self.get_or_none(subscription_id)
        if (
            not isinstance(subscription, WebhookSubscription)
            or subscription.brand_id != brand_id
            or not subscription.active
        ):
            raise WebhookNotFound(f"webhook {subscription_id} not found")
        return subscription

    def prepare_attempt(self, delivery_id: UUID, now: datetime) -> Attempt | None:
        """The next attempt of a pending delivery; None (abandoning it) if it can't be made.

        A read; abandoning is a recorded command at `now` (the worker's clock, the edge).
        """
        delivery = self.get_or_none(delivery_id)
        if not isinstance(delivery, WebhookDelivery) or delivery.status != "pending":
            return None
        subscription = self.get_or_none(UUID(delivery.subscription_id))
        if (
            not isinstance(subscription, WebhookSubscription)
            or not subscription.active
            or subscription.brand_id != delivery.brand_id  # never another brand's endpoint
        ):
            self._abandon(delivery_id, now, "the webhook was deleted")
            return None
        secret = self._open_webhook_secret(subscription)
        if secret is None:
            self._abandon(delivery_id, now, "the webhook's secret was destroyed")
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

    def _abandon(self, delivery_id: UUID, now: datetime, reason: str) -> None:
        self.execute("webhook.abandon", {"delivery_id": str(delivery_id), "reason": reason}, now)

    def _on_abandon(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        delivery = self.get_or_none(UUID(cmd.args["delivery_id"]))
        if isinstance(delivery, WebhookDelivery) and delivery.status == "pending":
            delivery.abandon(cmd.at, cmd.args["reason"])
            processing.collect_events(delivery)

    def record_attempt(
        self,
        delivery_id: UUID,
        attempted_at: datetime,
        status_code: int | None,
        error: str | None,
        draw: float,
        policy: BackoffPolicy,
    ) -> None:
        """Record what the endpoint answered (or the transport error) on a pending delivery.

        The answer, the jitter draw and the backoff settings are the recorded input.
        """
        args = {
            "delivery_id": str(delivery_id),
            "status_code": status_code,
            "error": error,
            "draw": draw,
            "policy": {
                "base_delay_s": policy.base_delay_s,
                "cap_s": policy.cap_s,
                "give_up_after_s": policy.give_up_after.total_seconds(),
            },
        }
        self.execute("webhook.attempt", args, attempted_at)

    def _on_attempt(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        args = cmd.args
        delivery: WebhookDelivery = self.repository.get(UUID(args["delivery_id"]))
        if delivery.status != "pending":
            return
        settings = args["policy"]
        policy = BackoffPolicy(
            base_delay_s=settings["base_delay_s"],
            cap_s=settings["cap_s"],
            give_up_after=timedelta(seconds=settings["give_up_after_s"]),
        )
        delivery.record_attempt(cmd.at, args["status_code"], args["error"], args["draw"], policy)
        processing.collect_events(delivery)

    def _seal_webhook_secret(self, subscription_id: UUID, secret: str) -> str:
        key = self.cipher.new_subject_key()
        self.keys.put(_secret_key_name(subscription_id), self.cipher.wrap_key(key))
        return self.cipher.encrypt_field(key, secret, f"{subscription_id}:secret")

    def _open_webhook_secret(self, subscription: WebhookSubscription) -> bytes | None:
        wrapped = self.keys.get(_secret_key_name(subscription.id))
        if wrapped is None:
            return None
        key = self.cipher.unwrap_key(wrapped)
        return self.cipher.decrypt_field(
            key, subscription.secret_ciphertext, f"{subscription.id}:secret"
        ).encode()


def _secret_key_name(subscription_id: UUID) -> str:
    return f"webhook-secret:{subscription_id}"
