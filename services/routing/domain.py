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
        # SLA clocks by clause (services/routing/sla.py), the pause and the escalation level.
        self.clocks: dict[str, dict[str, Any]] = {}
        self.sla_paused: bool = False
        self.escalation_level: str | None = None

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

    # --- SLA clocks (services/routing/sla.py has the rules, sla_app.py the use cases) -------

    @event("SlaStarted", topic="routing.RoutingCase.SlaStarted")
    def start_sla(
        self,
        meta: EventMeta,
        clause: str,
        starts_at: str,
        due_at: str | None,
        provisional: bool,
        calendar_version: str | None,
        policy_version: str,
        within: dict[str, Any],
        met_by: list[str],
        pausable: bool,
        escalation: dict[str, Any],
        reason: str | None,
    ) -> None:
        """A promise clock started: due at `due_at` (None: `reason` says why there is none)."""
        self.clocks[clause] = {
            "clause": clause,
            "starts_at": starts_at,
            "due_at": due_at,
            "provisional": provisional,
            "within": within,
            "met_by": met_by,
            "pausable": pausable,
            "escalation": escalation,
            "status": "paused" if self.sla_paused and pausable else "running",
            "paused_at": starts_at if self.sla_paused and pausable else None,
            "pauses": [],
            "escalations": 0,
            "next_escalation_at": None,
        }

    @event("SlaMet", topic="routing.RoutingCase.SlaMet")
    def meet_sla(self, meta: EventMeta, clause: str, at: str, by_event: str) -> None:
        """A clause kept (or kept late, after its breach) by an event of `by_event`."""
        self.clocks[clause].update(status="met", next_escalation_at=None)

    @event("SlaPaused", topic="routing.RoutingCase.SlaPaused")
    def pause_sla(self, meta: EventMeta, reason: str, clauses: list[str], at: str) -> None:
        """Waiting for appraisal or inspection: these clocks stop counting."""
        self.sla_paused = True
        for clause in clauses:
            self.clocks[clause].update(status="paused", paused_at=at)

    @event("SlaResumed", topic="routing.RoutingCase.SlaResumed")
    def resume_sla(
        self,
        meta: EventMeta,
        reason: str,
        clauses: list[str],
        at: str,
        due_at: dict[str, str | None],
        provisional: dict[str, bool],
    ) -> None:
        """The clocks count again, each due later by the span paused."""
        self.sla_paused = False
        for clause in clauses:
            clock = self.clocks[clause]
            clock["pauses"].append([clock["paused_at"], at])
            clock.update(
                status="running",
                paused_at=None,
                due_at=due_at[clause],
                provisional=provisional[clause],
            )

    @event("SlaDeadlineRevised", topic="routing.RoutingCase.SlaDeadlineRevised")
    def revise_sla(
        self,
        meta: EventMeta,
        clause: str,
        previous_due_at: str | None,
        due_at: str | None,
        calendar_version: str,
        provisional: bool,
    ) -> None:
        """A provisional deadline recomputed on a calendar year just loaded."""
        self.clocks[clause].update(due_at=due_at, provisional=provisional)

    @event("SlaBreached", topic="routing.RoutingCase.SlaBreached")
    def breach_sla(self, meta: EventMeta, clause: str, due_at: str) -> None:
        """A clause's deadline passed unmet (recorded once per clause)."""
        self.clocks[clause]["status"] = "breached"

    @event("Escalated", topic="routing.RoutingCase.Escalated")
    def escalate(
        self,
        meta: EventMeta,
        level: str,
        to_team: str,
        to_handler: str,
        reason: str,
        clause: str | None,
        by: str,
        next_escalation_at: str | None,
        authority_fen: int | None = None,
    ) -> None:
        """The case went up the chain (handler → supervisor → crisis team): the one it
        reached owns it now."""
        self.escalation_level = level
        self.team, self.handler_id, self.owner_kind = to_team, to_handler, "handler"
        self.owners.append({"kind": "escalated", "team": to_team, "handler_id": to_handler})
        if clause is not None:
            clock = self.clocks[clause]
            clock["escalations"] += 1
            clock["next_escalation_at"] = next_escalation_at

    @event("SlaStopped", topic="routing.RoutingCase.SlaStopped")
    def stop_slas(self, meta: EventMeta, reason: str, clauses: list[str]) -> None:
        """The complaint ended outside the clocks (withdrawn): none of them runs on."""
        self.sla_paused = False
        for clause in clauses:
            self.clocks[clause].update(status="stopped", next_escalation_at=None)

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
