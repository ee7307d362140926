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
        self.team: str | None = None
        # SLA clocks by clause (services/routing/sla.py), the pause and the escalation level.
        self.clocks: dict[str, dict[str, Any]] = {}
        self.sla_paused: bool = False
        self.escalation_level: str | None = None

    @event("InputRecorded", topic="routing.RoutingCase.InputRecorded")
    def record_input(self, meta: EventMeta, contract: dict[str, Any]) -> None:
        """Records a later upstream event this case acts on, before its effects."""
        self.inputs.append(contract)

    @event("ComplaintClassified", topic="routing.RoutingCase.ComplaintClassified")
    def classify(
        self,
        meta: EventMeta,
        category: str,
        dimension: str,
        well_founded: bool,
        reasons: list[str],
    ) -> None:
        self.category = category

    @event("SeverityAssessed", topic="routing.RoutingCase.SeverityAssessed")
    def assess(self, meta: EventMeta, severity: str, factors: list[str]) -> None:
        self.severity = severity
        self.factors = factors

    @event("HandlerAssigned", topic="routing.RoutingCase.HandlerAssigned")
    def assign(self, meta: EventMeta, team: str, handler_id: str, authority_fen: int) -> None:
        self.handler_id = handler_id
        self.team = team

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
    ) -> None:
        """The case went up the chain (handler → supervisor → crisis team)."""
        self.escalation_level = level
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
