"""Routing's aggregate: one routing case per complaint, from classification to a named handler."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from shared.inputs import InputClocked
from shared.store import EventMeta


class RoutingCase(Aggregate):
    """Judges, assesses and routes one complaint (steps 2–4 of DOMAIN.md)."""

    TOPIC = "routing.RoutingCase"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "routing.RoutingCase.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "routing.RoutingCase.Created"

    @event("CaseOpened", topic="routing.RoutingCase.CaseOpened")
    def __init__(self, id: UUID, meta: EventMeta, received: dict[str, Any]) -> None:
        """Records the ComplaintReceived input that opened the case."""
        self.brand_id = meta.brand_id
        self.received = received
        self.category: str | None = None
        self.severity: str | None = None
        self.factors: list[str] = []
        self.handler_id: str | None = None
        self.inputs: list[dict[str, Any]] = [received]

    @event("InputRecorded", topic="routing.RoutingCase.InputRecorded")
    def record_input(self, meta: EventMeta, contract: dict[str, Any]) -> None:
        """Records a later upstream event this case acts on, before its effects."""
        self.inputs.append(contract)

    class ComplaintClassified(Event):
        """Step 2 (判定/分类): category, every 五度 dimension touched, judged well-founded or
        not with the reason, safety signals in the text, and the rules version that decided."""

        TOPIC = "routing.RoutingCase.ComplaintClassified"
        class_version = 2

        meta: EventMeta
        category: str
        dimension: str
        well_founded: bool
        reasons: list[str]
        dimensions: list[str]
        judgement: str
        safety_signals: list[str]
        rules_version: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 knew one dimension, no judgement, no safety signals, no rules version."""
            state["dimensions"] = [state["dimension"]]
            state["judgement"] = ""
            state["safety_signals"] = []
            state["rules_version"] = None

    @event(ComplaintClassified)
    def classify(
        self,
        meta: EventMeta,
        category: str,
        dimension: str,
        well_founded: bool,
        reasons: list[str],
        dimensions: list[str],
        judgement: str,
        safety_signals: list[str],
        rules_version: str | None,
    ) -> None:
        self.category = category

    @event("SeverityAssessed", topic="routing.RoutingCase.SeverityAssessed")
    def assess(self, meta: EventMeta, severity: str, factors: list[str]) -> None:
        self.severity = severity
        self.factors = factors

    @event("HandlerAssigned", topic="routing.RoutingCase.HandlerAssigned")
    def assign(self, meta: EventMeta, team: str, handler_id: str, authority_fen: int) -> None:
        self.handler_id = handler_id

    @property
    def routed(self) -> bool:
        return self.handler_id is not None
