"""Routing's SLA use cases: clocks started, met, paused, revised, breached and escalated.

Every decision comes from a recorded input: upstream events (met_by, ComplaintWithdrawn),
recorded ops commands (policy loads, pause, resume, escalate), ticks of the `sla` timer
(time passing) and calendar loads, so `aftersales replay --verify --service routing` is
exact. Open clocks are rows of `routing_sla_clocks`, written with the events: the scheduler
ticks only when a row is due, and a calendar load revises the provisional ones it finds there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.routing import sla
from services.routing.domain import RoutingCase
from services.routing.sla_policy import (
    DEFAULT_POLICY,
    UPSTREAM_EVENTS,
    SlaPolicy,
    SlaPolicyFile,
    policy_id,
)
from shared.contracts import SERVICE_OF_TYPE, ContractEvent
from shared.errors import Conflict, NotFound
from shared.inputs import InputAlreadyRecorded, ReceivedCommand, input_time
from shared.readmodels import Cmp, Column, Delete, Index, RowWrite, Table, Upsert
from shared.store import EventMeta, ServiceApplication

if TYPE_CHECKING:
    from shared.service import Runtime

log = logging.getLogger("aftersales.routing.sla")
TIMER = "sla"
SLA_CLOCKS = Table(
    "routing_sla_clocks",
    columns=(
        Column("complaint_id", "text", nullable=False),
        Column("clause", "text", nullable=False),
        Column("brand_id", "text", nullable=False),
        # running: due_at is the deadline; escalating: the next escalation; paused: none
        Column("status", "text", nullable=False),
        Column("due_at", "timestamp"),
        Column("deadline", "timestamp"),
        Column("provisional", "boolean", nullable=False),
    ),
    primary_key=("complaint_id", "clause"),
    indexes=(Index(("status", "due_at")), Index(("provisional", "status"))),
)
SLA_TABLES = (SLA_CLOCKS,)
DUE_STATES = ("running", "escalating")
TICK_BATCH = 500
# Routing's own decisions a clause may be met by, and whether the case has made them.
OWN_EVENTS: dict[str, Callable[[RoutingCase], bool]] = {
    "ComplaintClassified": lambda case: case.category is not None,
    "SeverityAssessed": lambda case: case.severity is not None,
    "HandlerAssigned": lambda case: case.handler_id is not None,
}


class SlaUseCases(ServiceApplication):
    """The SLA part of routing's application (a mixin of `RoutingApplication`)."""

    # Each brand's policy as last read, so that starting clocks reads no store: a load in
    # this process drops its brand (the write lock orders loads and reads; one writer per
    # store, as for the working-day calendar).
    _policies: dict[str, tuple[SlaPolicy, str]]

    def register_sla(self) -> None:
        self._policies = {}
        for event_type in UPSTREAM_EVENTS:
            if event_type in SERVICE_OF_TYPE:  # others are subscribed once their contract exists
                self.on(event_type, self.on_sla_event)
        self.on("ComplaintWithdrawn", self.on_withdrawn)
        self.command("sla.load_policy", self._on_load_policy)
        self.command("sla.pause", self._on_pause)
        self.command("sla.resume", self._on_resume)
        self.command("sla.escalate", self._on_escalate)
        self.timer(TIMER, self._on_tick)

    # --- policies -------------------------------------------------------------------

    def sla_policy(self, brand_id: str, cached: bool = True) -> tuple[SlaPolicy, str]:
        """The brand's SLA policy and where it comes from ("brand" or "default")."""
        found = self._policies.get(brand_id) if cached else None
        if found is None:
            file = self.get_or_none(policy_id(brand_id))
            if not isinstance(file, SlaPolicyFile) or file.document is None:
                found = (DEFAULT_POLICY, "default")
            else:
                found = (SlaPolicy.model_validate(file.document), "brand")
            if cached:
                self._policies[brand_id] = found
        return found

    def load_sla_policy(self, brand_id: str, policy: SlaPolicy, at: datetime) -> SlaPolicy:
        args = {"brand_id": brand_id, "document": policy.model_dump(mode="json")}
        self.execute("sla.load_policy", args, at)
        return self.sla_policy(brand_id, cached=False)[0]

    def _on_load_policy(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        brand_id = cmd.args["brand_id"]
        self._policies.pop(brand_id, None)
        policy = SlaPolicy.model_validate(cmd.args["document"])
        if policy.repeated_names():
            raise Conflict(f"clause names are used twice: {policy.repeated_names()}")
        document = policy.model_dump(mode="json")
        file = self.get_or_none(policy_id(brand_id))
        if not isinstance(file, SlaPolicyFile):
            file = SlaPolicyFile(id=policy_id(brand_id), brand_id=brand_id)
        elif policy.version in file.versions:
            if file.document == document:
                return  # the same version again: nothing changes
            raise Conflict(f"SLA policy version {policy.version} of {brand_id} exists")
        file.load(version=policy.version, document=document)
        processing.collect_events(file)

    # --- clocks started and met -----------------------------------------------------

    def start_slas(self, case: RoutingCase, meta: EventMeta, event_type: str | None = None) -> None:
        """Start the clocks this complaint's policy has for its arrival (or `event_type`);
        a clause is started once. Clauses met by routing's own decisions are met at once."""
        payload: dict[str, Any] = case.received["payload"]
        received_at = datetime.fromisoformat(case.received["occurred_at"])
        policy, _ = self.sla_policy(case.brand_id)
        now = input_time()
        if event_type is None:
            clauses = sla.clauses_on_receipt(policy, payload, case.severity)
        else:
            clauses = sla.clauses_on_event(policy, event_type, payload, case.severity)
        for clause in clauses:
            if clause.name in case.clocks:
                continue
            start, note = sla.start_instant(clause, payload, received_at, now)
            within = clause.within.model_dump(exclude_none=True)
            due = sla.due_time(within, start, [], self.calendar)
            again = policy.escalation.again_after
            case.start_sla(
                meta=meta,
                clause=clause.name,
                starts_at=start.isoformat(),
                due_at=sla.iso(due.due_at),
                provisional=due.provisional,
                calendar_version=due.calendar_version,
                policy_version=policy.version,
                within=within,
                met_by=list(clause.met_by),
                pausable=clause.pausable,
                escalation={
                    "levels": list(policy.escalation.levels),
                    "again_after_s": None if again is None else again.elapsed().total_seconds(),
                },
                reason=due.reason or note,
            )
        for event, done in OWN_EVENTS.items():
            if done(case):
                self._meet(case, meta, event, now)

    def _meet(self, case: RoutingCase, meta: EventMeta, event_type: str, at: datetime) -> bool:
        met = False
        for clock in list(case.clocks.values()):
            if clock["status"] in sla.OPEN_STATES and event_type in clock["met_by"]:
                clause, when = clock["clause"], at.isoformat()
                case.meet_sla(meta=meta, clause=clause, at=when, by_event=event_type)
                met = True
        return met

    def _sla_case(self, complaint_id: UUID) -> RoutingCase | None:
        case = self.get_or_none(complaint_id)
        return case if isinstance(case, RoutingCase) else None

    def on_sla_event(self, contract: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        """An upstream event may keep a clause (met_by) or start one (starts_at)."""
        case = self._sla_case(contract.complaint_id)
        if case is None or not case.routed:
            return
        meta = EventMeta.caused_by(contract)
        before = len(case.clocks)
        met = self._meet(case, meta, contract.type, input_time())
        self.start_slas(case, meta, contract.type)
        if met or len(case.clocks) != before:
            processing.collect_events(case)

    def on_withdrawn(self, contract: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        """A withdrawn complaint stops its clocks: nothing is due any more."""
        case = self._sla_case(contract.complaint_id)
        if case is None:
            return
        open_clauses = [c for c, k in case.clocks.items() if k["status"] in sla.OPEN_STATES]
        if open_clauses or case.sla_paused:
            meta = EventMeta.caused_by(contract)
            case.stop_slas(meta=meta, reason="complaint withdrawn", clauses=open_clauses)
            processing.collect_events(case)

    # --- ops: pause, resume, escalate -------------------------------------------------

    def sla_command(
        self, name: str, complaint_id: UUID, reason: str, by: str, at: datetime
    ) -> RoutingCase:
        """Run `sla.pause`, `sla.resume` or `sla.escalate` as a recorded command."""
        args = {"complaint_id": str(complaint_id), "reason": reason, "by": by}
        case: RoutingCase = self.execute(name, args, at)
        return case

    def _command_case(self, cmd: ReceivedCommand) -> tuple[RoutingCase, EventMeta]:
        case = self._sla_case(UUID(cmd.args["complaint_id"]))
        if case is None:
            raise NotFound(f"no routing case for complaint {cmd.args['complaint_id']}")
        return case, EventMeta(case.brand_id, case.received["trace_id"], None)

    def _on_pause(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> RoutingCase:
        case, meta = self._command_case(cmd)
        if case.sla_paused:
            raise Conflict("the SLA clocks of this case are already paused")
        clauses = [
            c for c, k in case.clocks.items() if k["status"] == "running" and k["pausable"]
        ]
        case.pause_sla(meta=meta, reason=cmd.args["reason"], clauses=clauses, at=cmd.at.isoformat())
        processing.collect_events(case)
        return case

    def _on_resume(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> RoutingCase:
        case, meta = self._command_case(cmd)
        if not case.sla_paused:
            raise Conflict("the SLA clocks of this case are not paused")
        paused = {c: k for c, k in case.clocks.items() if k["status"] == "paused"}
        dues = {}
        for clause, clock in paused.items():
            span = (datetime.fromisoformat(clock["paused_at"]), cmd.at.astimezone(UTC))
            dues[clause] = sla.redue(clock, self.calendar, [span])
        case.resume_sla(
            meta=meta,
            reason=cmd.args["reason"],
            clauses=list(paused),
            at=cmd.at.astimezone(UTC).isoformat(),
            due_at={c: sla.iso(d.due_at) for c, d in dues.items()},
            provisional={c: d.provisional for c, d in dues.items()},
        )
        processing.collect_events(case)
        return case

    def _on_escalate(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> RoutingCase:
        case, meta = self._command_case(cmd)
        level = sla.next_level(case.escalation_level)
        if level is None:
            raise Conflict("this case is already with the crisis team (the top of the chain)")
        self._escalate(case, meta, level, cmd.args["reason"], None, cmd.args["by"], None)
        processing.collect_events(case)
        return case

    def _escalate(
        self,
        case: RoutingCase,
        meta: EventMeta,
        level: str,
        reason: str,
        clause: str | None,
        by: str,
        next_at: datetime | None,
    ) -> None:
        team, handler = self.escalation_target(case, level)
        case.escalate(
            meta=meta,
            level=level,
            to_team=team,
            to_handler=handler,
            reason=reason,
            clause=clause,
            by=by,
            next_escalation_at=sla.iso(next_at),
            authority_fen=self.authority_of(case, handler),
        )

    # --- time passing: the `sla` timer ------------------------------------------------

    def sla_due(self, now: datetime) -> bool:
        """Whether any open clock is due at `now` (the scheduler ticks only then)."""
        where = {"status": Cmp("in", DUE_STATES), "due_at": Cmp("<=", now)}
        return bool(self.read_models.select_rows(SLA_CLOCKS.name, where, limit=1))

    def _on_tick(self, now: datetime, processing: ProcessingEvent[UUID]) -> None:
        where = {"status": Cmp("in", DUE_STATES), "due_at": Cmp("<=", now)}
        rows = self.read_models.select_rows(
            SLA_CLOCKS.name, where, ("due_at", "complaint_id", "clause"), TICK_BATCH
        )
        for complaint_id in dict.fromkeys(row["complaint_id"] for row in rows):
            case = self._sla_case(UUID(complaint_id))
            if case is not None and self._fire_due(case, now):
                processing.collect_events(case)

    def _fire_due(self, case: RoutingCase, now: datetime) -> bool:
        """Breach each running clock past its deadline (once), and escalate along the chain."""
        meta = EventMeta(case.brand_id, case.received["trace_id"], None)
        fired = False
        for clause in sorted(case.clocks):
            clock = case.clocks[clause]
            if not sla.is_due(clock, now):
                continue
            if clock["status"] == "running":
                case.breach_sla(meta=meta, clause=clause, due_at=clock["due_at"])
                reason = f"SLA {clause} breached (due {clock['due_at']})"
            else:
                reason = f"SLA {clause} still unmet after its breach"
            levels = clock["escalation"]["levels"]
            level = levels[min(clock["escalations"], len(levels) - 1)]
            following = sla.next_escalation(clock, now)
            self._escalate(case, meta, level, reason, clause, "sla-timer", following)
            fired = True
        return fired

    # --- calendar years loaded: provisional deadlines revised ---------------------------

    def on_calendar_loaded(self, year: int, processing: ProcessingEvent[UUID]) -> None:
        where = {"provisional": True, "status": Cmp("in", ("running", "paused"))}
        rows = self.read_models.select_rows(SLA_CLOCKS.name, where, limit=1_000_000)
        calendar = self.calendar
        for complaint_id in dict.fromkeys(row["complaint_id"] for row in rows):
            case = self._sla_case(UUID(complaint_id))
            if case is None:
                continue
            meta = EventMeta(case.brand_id, case.received["trace_id"], None)
            revised = False
            for clause in sorted(case.clocks):
                clock = case.clocks[clause]
                if not clock["provisional"] or clock["status"] not in ("running", "paused"):
                    continue
                due = sla.redue(clock, calendar)
                case.revise_sla(
                    meta=meta,
                    clause=clause,
                    previous_due_at=clock["due_at"],
                    due_at=sla.iso(due.due_at),
                    calendar_version=calendar.version,
                    provisional=due.provisional,
                )
                revised = True
            if revised:
                processing.collect_events(case)

    # --- the open-clocks table ---------------------------------------------------------

    def sla_writes(self, processing: ProcessingEvent[Any]) -> list[RowWrite]:
        """The rows of every saved case's clocks: open ones upserted, closed ones removed."""
        writes: list[RowWrite] = []
        for aggregate in processing.aggregates.values():
            if isinstance(aggregate, RoutingCase) and aggregate.clocks:
                writes += [clock_row(aggregate, clock) for clock in aggregate.clocks.values()]
        return writes

    def escalation_target(self, case: RoutingCase, level: str) -> tuple[str, str]:
        """The team and handler an escalation to `level` reaches: the routing application
        answers from the brand's roster (services/routing/roster.py)."""
        raise NotImplementedError

    def authority_of(self, case: RoutingCase, handler_id: str) -> int | None:
        """The authority (fen) of whom an escalation reaches, for compensation (None: unknown)."""
        return None


def clock_row(case: RoutingCase, clock: dict[str, Any]) -> RowWrite:
    key = {"complaint_id": str(case.id), "clause": clock["clause"]}
    status, due_at = clock["status"], sla.parse(clock["due_at"])
    if status == "breached" and clock["next_escalation_at"] is not None:
        status, due_at = "escalating", sla.parse(clock["next_escalation_at"])
    elif status == "paused":
        due_at = None
    elif status != "running" or due_at is None:
        return Delete(SLA_CLOCKS.name, key)
    row = {
        **key,
        "brand_id": case.brand_id,
        "status": status,
        "due_at": due_at,
        "deadline": sla.parse(clock["due_at"]),
        "provisional": bool(clock["provisional"]),
    }
    return Upsert(SLA_CLOCKS.name, row)


async def sla_scheduler(runtime: Runtime) -> None:
    """Background job: every `AFTERSALES_SLA_TICK_S`, tick the `sla` timer if a clock is due.

    The tick is recorded with its effects (breaches, escalations) in one transaction, so a
    crash before it loses nothing (the next check finds the clock still due) and one after
    it doubles nothing (the clock is breached in the log). An idle platform writes nothing.
    """
    app = runtime.application
    if not isinstance(app, SlaUseCases):
        raise TypeError(f"{type(app).__name__} has no SLA clocks")
    every = runtime.settings.sla_tick_s
    while not runtime.stop.is_set():
        now = datetime.now(UTC)
        if await asyncio.to_thread(app.sla_due, now):
            with suppress(InputAlreadyRecorded):
                await asyncio.to_thread(app.tick, TIMER, now)
        with suppress(TimeoutError):
            await asyncio.wait_for(runtime.stop.wait(), every)
