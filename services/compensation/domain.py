"""Compensation's aggregate: apology first, then remedies offered as the consumer's choice."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from shared.inputs import InputClocked
from shared.store import EventMeta


class OfferNotStanding(Exception):
    """The consumer acted on an offer that is not open (or an option it never had)."""


class CompensationCase(Aggregate):
    """One complaint's compensation: apology, offers and the consumer's answers (steps 6–8)."""

    TOPIC = "compensation.CompensationCase"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "compensation.CompensationCase.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "compensation.CompensationCase.Created"

    @event("CaseOpened", topic="compensation.CompensationCase.CaseOpened")
    def __init__(self, id: UUID, meta: EventMeta) -> None:
        self.brand_id = meta.brand_id
        self.received: dict[str, Any] | None = None
        self.assignment: dict[str, Any] | None = None
        self.apologised = False
        self.offer: dict[str, Any] | None = None
        self.offers_made = 0
        self.offer_status: str | None = None
        self.accepted_option: dict[str, Any] | None = None
        self.withdrawn = False

    @event("InputRecorded", topic="compensation.CompensationCase.InputRecorded")
    def record_input(self, meta: EventMeta, contract: dict[str, Any]) -> None:
        """Records an upstream event this case acts on, before its effects."""
        if contract["type"] == "ComplaintReceived":
            self.received = contract["payload"]
        elif contract["type"] == "HandlerAssigned":
            self.assignment = contract["payload"]
        elif contract["type"] == "ComplaintWithdrawn":
            self.withdrawn = True
            if self.offer_status == "open":
                self.offer_status = "withdrawn"

    @event("ApologyIssued", topic="compensation.CompensationCase.ApologyIssued")
    def apologise(
        self,
        meta: EventMeta,
        handler_id: str,
        message: str,
        channel: str | None = None,
        template_version: str | None = None,
    ) -> None:
        """1.1: the complaint's channel and the template version (events stored before: None)."""
        self.apologised = True

    @event("RemedyOptionsOffered", topic="compensation.CompensationCase.RemedyOptionsOffered")
    def offer_remedies(self, meta: EventMeta, offer_id: str, options: list[dict[str, Any]]) -> None:
        self.offer = {"offer_id": offer_id, "options": options}
        self.offers_made += 1
        self.offer_status = "open"

    @event("OfferAccepted", topic="compensation.CompensationCase.OfferAccepted")
    def accept(
        self, meta: EventMeta, offer_id: str, option_id: str, kind: str, amount_fen: int
    ) -> None:
        self.offer_status = "accepted"
        self.accepted_option = {"option_id": option_id, "kind": kind, "amount_fen": amount_fen}

    @event("OfferRejected", topic="compensation.CompensationCase.OfferRejected")
    def reject(self, meta: EventMeta, offer_id: str, reason: str) -> None:
        self.offer_status = "rejected"

    @event("CounterProposalReceived", topic="compensation.CompensationCase.CounterProposalReceived")
    def receive_counter(
        self, meta: EventMeta, offer_id: str, kind: str, amount_fen: int | None
    ) -> None:
        self.offer_status = "countered"

    @event("ConsumerActionRefused", topic="compensation.CompensationCase.ConsumerActionRefused")
    def refuse_action(self, meta: EventMeta, offer_id: str, reason: str) -> None:
        """An answer to an offer that no longer stands: recorded, without effect."""

    @property
    def ready_to_offer(self) -> bool:
        return (
            self.received is not None
            and self.assignment is not None
            and not self.apologised
            and not self.withdrawn
        )

    def option(self, offer_id: str, option_id: str | None) -> dict[str, Any]:
        """The open offer's option, or OfferNotStanding saying why not."""
        if self.offer is None or self.offer["offer_id"] != offer_id:
            raise OfferNotStanding(f"offer {offer_id} was never made on this complaint")
        if self.offer_status != "open":
            raise OfferNotStanding(f"offer {offer_id} is {self.offer_status}")
        for option in self.offer["options"]:
            if option["option_id"] == option_id:
                return dict(option)
        raise OfferNotStanding(f"option {option_id} is not part of offer {offer_id}")
