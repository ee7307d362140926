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
        # Ownership (services/routing/ownership.py): who owns it, how we answer, the trail.
        self.team: str | None = None
        self.owner_kind: str | None = None  # "desk" (首问负责制) until a named "handler"
        self.desk: str | None = None
        self.authority_fen = 0
        self.mode: str | None = None
        self.callback_due: str | None = None
        self.owners: list[dict[str, Any]] = []

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
    def assign(
        self,
        meta: EventMeta,
        team: str,
        handler_id: str,
        authority_fen: int,
        reason: str = "",
        from_owner: str | None = None,
        roster_version: str | None = None,
    ) -> None:
        self.handler_id = handler_id
        self.team, self.owner_kind, self.authority_fen = team, "handler", authority_fen
        self.owners.append({"kind": "assigned", "team": team, "handler_id": handler_id})

    @event("FirstContactOwned", topic="routing.RoutingCase.FirstContactOwned")
    def own_first_contact(self, meta: EventMeta, desk: str, channel: str) -> None:
        """首问负责制 [003]: whoever received it owns it until a named handler takes it."""
        self.desk, self.owner_kind = desk, "desk"
        self.owners.append({"kind": "first_contact", "desk": desk, "channel": channel})

    @event("HandlerReassigned", topic="routing.RoutingCase.HandlerReassigned")
    def reassign(
        self,
        meta: EventMeta,
        from_team: str | None,
        from_handler: str | None,
        to_team: str,
        to_handler: str,
        kind: str,
        change: str | None,
        reason: str,
        by: str,
        authority_fen: int = 0,
        contact_at: str | None = None,
        place: str | None = None,
    ) -> None:
        """Reassignment, handover, severity raised or escalation; 三变法 `change` [002]."""
        self.team, self.handler_id, self.authority_fen = to_team, to_handler, authority_fen
        self.owner_kind = "handler"
        self.owners.append(
            {"kind": kind, "team": to_team, "handler_id": to_handler, "change": change}
        )

    @event("ResponseModeChosen", topic="routing.RoutingCase.ResponseModeChosen")
    def choose_mode(
        self,
        meta: EventMeta,
        mode: str,
        reason: str,
        answer_by: str | None = None,
        callback_due: str | None = None,
        receiving_party: str | None = None,
    ) -> None:
        """Immediate, deferred (answer and callback promised) or transfer [002]."""
        self.mode = mode
        self.callback_due = callback_due

    @event("ConsumerCallbackPromised", topic="routing.RoutingCase.ConsumerCallbackPromised")
    def promise_callback(self, meta: EventMeta, callback_at: str, reason: str, by: str) -> None:
        """A call back promised to the consumer, kept even with no news [000]."""
        self.callback_due = callback_at

    @property
    def routed(self) -> bool:
        return self.handler_id is not None


class BrandRoster(Aggregate):
    """A brand's roster document (services/routing/roster.py), replaced by each load."""

    TOPIC = "routing.BrandRoster"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "routing.BrandRoster.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "routing.BrandRoster.Created"

    @event("RosterLoaded", topic="routing.BrandRoster.RosterLoaded")
    def __init__(
        self, id: UUID, brand: str, document: dict[str, Any], roster_version: str
    ) -> None:
        self.brand, self.document, self.roster_version = brand, document, roster_version

    @event("RosterReplaced", topic="routing.BrandRoster.RosterReplaced")
    def replace(self, document: dict[str, Any], roster_version: str) -> None:
        self.document, self.roster_version = document, roster_version


class RoutedGroup(Aggregate):
    """The routed members of a group of consumers and its largest size seen (routing's own
    view, from `GroupComplaintLinked`): when the group grows past a threshold, every member
    is reassessed, not only the newest."""

    TOPIC = "routing.RoutedGroup"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "routing.RoutedGroup.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "routing.RoutedGroup.Created"

    @event("GroupTracked", topic="routing.RoutedGroup.GroupTracked")
    def __init__(self, id: UUID, group_id: str) -> None:
        self.group_id = group_id
        self.members: list[str] = []
        self.size = 0

    @event("GroupGrew", topic="routing.RoutedGroup.GroupGrew")
    def grow(self, member: str, size: int) -> None:
        if member not in self.members:
            self.members.append(member)
        self.size = max(self.size, size)
