"""Followup's aggregate: revisits (回访) after a remedy was agreed."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from shared.store import EventMeta


class FollowupCase(Aggregate):
    """One complaint's follow-up: revisits scheduled and their outcomes (steps 10–11)."""

    TOPIC = "followup.FollowupCase"

    class Event(Aggregate.Event):
        TOPIC = "followup.FollowupCase.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "followup.FollowupCase.Created"

    @event("CaseOpened", topic="followup.FollowupCase.CaseOpened")
    def __init__(self, id: UUID, meta: EventMeta) -> None:
        self.brand_id = meta.brand_id
        self.revisits: list[dict[str, Any]] = []
        self.agreed: dict[str, Any] | None = None
        self.acknowledge_by: str | None = None
        self.plan_by: str | None = None

    @event("InputRecorded", topic="followup.FollowupCase.InputRecorded")
    def record_input(self, meta: EventMeta, contract: dict[str, Any]) -> None:
        """Records an upstream event this case acts on, before its effects."""
        if contract["type"] == "OfferAccepted":
            self.agreed = contract["payload"]

    @event("FollowupCaseOpened", topic="followup.FollowupCase.FollowupCaseOpened")
    def open_followup(self, meta: EventMeta, acknowledge_by: str, plan_by: str) -> None:
        self.acknowledge_by = acknowledge_by
        self.plan_by = plan_by

    class RevisitScheduled(Event):
        """Step 10 (回访): a revisit is due; v2 records the accepted offer it checks on."""

        TOPIC = "followup.FollowupCase.RevisitScheduled"
        class_version = 2

        meta: EventMeta
        revisit_id: str
        due_date: str
        channel: str
        calendar_covered: bool
        offer_id: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 did not record the offer: None says "not known", never a guessed one."""
            state["offer_id"] = None

    @event(RevisitScheduled)
    def schedule_revisit(
        self,
        meta: EventMeta,
        revisit_id: str,
        due_date: str,
        channel: str,
        calendar_covered: bool,
        offer_id: str | None,
    ) -> None:
        self.revisits.append({"revisit_id": revisit_id, "due_date": due_date, "channel": channel})
