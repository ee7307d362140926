"""Who owns a case (DOMAIN.md steps 1, 3–5): rosters, first contact, assignment, reassignment,
severity raised, response modes, and the queue read model.

首问负责制 [003]: the desk that received a complaint owns it (`FirstContactOwned`) until a
named handler with enough authority and the skill takes it (`HandlerAssigned`, once:
compensation acts on the first only); every later change of owner is `HandlerReassigned`
(reassigned, handed over, severity raised, escalated; 三变法 person/place/time [002]).
Rosters are per-brand documents loaded by recorded commands, so replay re-runs the same
choices. Queue rows are written with the case's events, in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.utils import EnvType

from services.routing import roster as rosters
from services.routing import severity as sev
from services.routing.domain import BrandRoster, RoutedGroup, RoutingCase
from services.routing.response import ResponseMode, choose_mode, transfer
from shared.contracts import ContractEvent
from shared.errors import Conflict, NotFound
from shared.inputs import ReceivedCommand, input_time
from shared.readmodels import Cmp, Column, Index, PageQuery, RowWrite, Table, Upsert
from shared.store import EventMeta, derive_id
from shared.tuning import CachedCases

FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)  # sorts cases with no due time last
QUEUE = Table(
    "routing_queue",
    (
        Column("complaint_id", "text", nullable=False),
        Column("brand_id", "text", nullable=False),
        Column("team", "text", nullable=False),
        Column("handler_id", "text", nullable=False),
        Column("owner_kind", "text", nullable=False),
        Column("severity", "text", nullable=False),
        Column("priority", "integer", nullable=False),  # 0 critical, 1 high, 2 normal
        Column("category", "text"),
        Column("mode", "text"),
        Column("next_due_at", "timestamp"),  # the SLA clock's next due time (null: none)
        Column("due_order", "timestamp", nullable=False),  # next_due_at, or FAR_FUTURE
        Column("updated_at", "timestamp", nullable=False),
    ),
    primary_key=("complaint_id",),
    indexes=(
        Index(("brand_id", "priority", "due_order", "complaint_id")),
        Index(("brand_id", "team", "priority", "due_order", "complaint_id")),
        Index(("brand_id", "handler_id", "priority", "due_order", "complaint_id")),
    ),
)
QUEUE_ORDER = ("priority", "due_order", "complaint_id")  # most urgent first


class CaseNotFound(NotFound):
    """No routing case for that complaint (or it belongs to another brand)."""


class OwnerRefused(Conflict):
    """The new owner is unknown to the brand's roster or lacks the authority or the team."""


def _later(moment: datetime, now: datetime) -> bool:
    """`moment` is after `now` (instants at the edges of the calendar compare safely)."""
    if moment.year <= 1 or moment.year >= 9999:
        return moment.year >= 9999
    return moment > now


def channel_desk(channel: str) -> str:
    """The desk of a channel, when intake recorded nobody (首问负责制 [003])."""
    return f"{channel}-desk"


class Ownership(CachedCases):
    """The routing application's ownership side (mixed into `RoutingApplication`)."""

    read_model_tables: ClassVar[tuple[Table, ...]] = (QUEUE,)
    # Parsed roster documents by (brand, aggregate version): validated once, not per case.
    _parsed_rosters: dict[tuple[str, int], rosters.Roster]

    def __init__(self, env: EnvType | None = None) -> None:
        self._parsed_rosters = {}
        super().__init__(env)

    def register_ownership(self) -> None:
        self.on("DuplicateLinked", self.on_duplicate_linked)
        self.command("roster.load", self._on_load_roster)
        self.command("case.reassign", self._on_reassign)
        self.command("case.handover", self._on_reassign)
        self.command("case.transfer", self._on_transfer)
        self.command("case.callback", self._on_callback)

    # --- rosters ----------------------------------------------------------------------

    def roster(self, brand: str) -> rosters.Roster:
        """The brand's roster: the document loaded last, else the default one."""
        loaded: BrandRoster | None = self.get_or_none(derive_id("roster", brand))
        if loaded is None:
            return rosters.DEFAULT_ROSTER
        key = (brand, loaded.version)  # the stored version read now: never a stale roster
        parsed = self._parsed_rosters.get(key)
        if parsed is None:
            parsed = self._parsed_rosters[key] = rosters.parse_roster(loaded.document)
        return parsed

    def load_roster(self, brand: str, roster: rosters.Roster, at: datetime) -> str:
        args = {"brand": brand, "document": roster.model_dump(mode="json")}
        self.execute("roster.load", args, at)
        return roster.version

    def _on_load_roster(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        brand, document = cmd.args["brand"], cmd.args["document"]
        version = rosters.parse_roster(document).version
        aggregate_id = derive_id("roster", brand)
        loaded: BrandRoster | None = self.get_or_none(aggregate_id)
        if loaded is None:
            loaded = BrandRoster(
                id=aggregate_id, brand=brand, document=document, roster_version=version
            )
        else:
            loaded.replace(document=document, roster_version=version)
        processing.collect_events(loaded)

    # --- receipt: first contact, then a named handler, then the response mode ----------

    def take_ownership(
        self, case: RoutingCase, received: ContractEvent, meta: EventMeta, level: str
    ) -> None:
        """首问负责制 [003]: the receiving desk owns it, then a named handler takes it."""
        payload = received.payload
        channel = str(payload.get("channel") or "unknown")
        desk = payload.get("received_by") or channel_desk(channel)
        case.own_first_contact(meta=meta, desk=desk, channel=channel)
        roster = self.roster(case.brand_id)
        stake = rosters.amount_at_stake(payload)
        choice = rosters.choose(roster, str(case.id), level, case.category, stake)
        case.assign(
            meta=meta,
            team=choice.team,
            handler_id=choice.handler_id,
            authority_fen=choice.authority_fen,
            reason=choice.reason,
            from_owner=f"desk:{desk}",
            roster_version=roster.version,
        )
        mode = choose_mode(
            case.category, level, choice.authority_fen, stake, received.occurred_at, self.calendar
        )
        self._choose(case, meta, mode)

    def _choose(self, case: RoutingCase, meta: EventMeta, mode: ResponseMode) -> None:
        case.choose_mode(
            meta=meta,
            mode=mode.mode,
            reason=mode.reason,
            answer_by=mode.answer_by,
            callback_due=mode.callback_due,
            receiving_party=mode.receiving_party,
        )

    # --- severity raised: a group grows, a repeat arrives -----------------------------

    def on_duplicate_linked(self, linked: ContractEvent, processing: ProcessingEvent[UUID]) -> None:
        """A repeat contact about a routed case counts towards its severity [DOMAIN.md 3]."""
        case = self.case_of(linked.complaint_id)
        if case is None or not case.routed:
            return
        meta = EventMeta.caused_by(linked)
        case.record_input(meta=meta, contract=linked.model_dump(mode="json"))
        self.reassess(case, meta)
        processing.collect_events(case)

    def spread_group_size(
        self, linked: ContractEvent, processing: ProcessingEvent[UUID]
    ) -> None:
        """Track the group's routed members; when it grows past a size threshold, every
        earlier member is reassessed too (29 and 78 consumers [003])."""
        group_id = str(linked.payload["group_id"])
        size = int(linked.payload["member_count"])
        group_key = derive_id("routing-group", linked.brand_id, group_id)
        group: RoutedGroup | None = self.get_or_none(group_key)
        if group is None:
            group = RoutedGroup(id=group_key, group_id=group_id)
        before = group.size
        group.grow(member=str(linked.complaint_id), size=size)
        processing.collect_events(group)
        if not before or sev.group_level(size) == sev.group_level(before):
            return
        meta = EventMeta.caused_by(linked)
        for member in group.members:
            case = self.case_of(UUID(member))
            if member == str(linked.complaint_id) or case is None or not case.routed:
                continue
            case.record_input(meta=meta, contract=linked.model_dump(mode="json"))
            self.reassess(case, meta)
            processing.collect_events(case)

    def reassess(self, case: RoutingCase, meta: EventMeta) -> None:
        """Assess again from every recorded input; when severity rises, the owner changes to
        a team of that level (`severity_raised`). Never lowers by itself."""
        new = sev.assess(
            case.received.get("payload", {}),
            repeats=sev.repeats_in(case.inputs),
            group_size=sev.group_size_in(case.inputs),
        )
        before = case.severity or "normal"
        raised = sev.raised(before, case.factors, new)
        if raised is None:
            return
        case.assess(meta=meta, severity=raised.level, factors=raised.factors)
        if not sev.rose(before, raised.level):
            return
        roster = self.roster(case.brand_id)
        stake = rosters.amount_at_stake(case.received.get("payload", {}))
        choice = rosters.choose(roster, str(case.id), raised.level, case.category, stake)
        if rosters.team_rank(roster, choice.team) > rosters.team_rank(roster, case.team):
            self._raise_owner(case, meta, before, raised.level, choice)
        if case.mode != "transfer":  # answer again as the new level needs (e.g. deferred)
            mode = choose_mode(
                case.category, raised.level, case.authority_fen, stake, input_time(), self.calendar
            )
            if mode.mode != case.mode:
                self._choose(case, meta, mode)

    def _raise_owner(
        self, case: RoutingCase, meta: EventMeta, before: str, level: str, choice: rosters.Choice
    ) -> None:
        case.reassign(
            meta=meta,
            from_team=case.team,
            from_handler=case.handler_id,
            to_team=choice.team,
            to_handler=choice.handler_id,
            kind="severity_raised",
            change="person",
            reason=f"severity {before} -> {level}: {choice.reason}",
            by="routing",
            authority_fen=choice.authority_fen,
        )

    # --- ops: reassign, hand over, transfer (recorded commands) ------------------------

    def reassign_case(self, complaint_id: UUID, args: dict[str, Any], at: datetime) -> None:
        """`case.reassign` (supervisor) or, with kind "handover", `case.handover` (handler)."""
        name = "case.handover" if args.get("kind") == "handover" else "case.reassign"
        self.execute(name, {**args, "complaint_id": str(complaint_id)}, at)

    def _on_reassign(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        args = cmd.args
        case = self._routed(args["complaint_id"])
        roster = self.roster(case.brand_id)
        to_handler = args["to_handler"]
        team = roster.team_of(to_handler)
        if team is None:
            raise OwnerRefused(f"{to_handler} is not in the roster of brand {case.brand_id}")
        handover = cmd.name == "case.handover"
        if handover and team.name != case.team:
            raise OwnerRefused(f"a handover goes to a colleague in team {case.team}")
        authority = roster.authority_of(to_handler)
        stake = rosters.amount_at_stake(case.received.get("payload", {}))
        if authority < stake:
            raise OwnerRefused(
                f"{to_handler} may decide up to {authority} fen; {stake} fen are at stake"
            )
        if to_handler == case.handler_id and args.get("change") in (None, "person"):
            raise OwnerRefused(f"{to_handler} already owns the case")
        case.reassign(
            meta=self._meta(case),
            from_team=case.team,
            from_handler=case.handler_id,
            to_team=team.name,
            to_handler=to_handler,
            kind="handover" if handover else "reassigned",
            change=args.get("change"),
            reason=args["reason"],
            by=args["by"],
            authority_fen=authority,
            contact_at=args.get("contact_at"),
            place=args.get("place"),
        )
        processing.collect_events(case)

    def transfer_case(self, complaint_id: UUID, args: dict[str, Any], at: datetime) -> None:
        self.execute("case.transfer", {**args, "complaint_id": str(complaint_id)}, at)

    def _on_transfer(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        case = self._routed(cmd.args["complaint_id"])
        if case.mode == "transfer":
            raise OwnerRefused("the case was already transferred")
        mode = transfer(cmd.args["receiving_party"], cmd.args["reason"])
        self._choose(case, self._meta(case), mode)
        processing.collect_events(case)

    def promise_callback(self, complaint_id: UUID, args: dict[str, Any], at: datetime) -> None:
        self.execute("case.callback", {**args, "complaint_id": str(complaint_id)}, at)

    def _on_callback(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        case = self._routed(cmd.args["complaint_id"])
        if not _later(datetime.fromisoformat(cmd.args["callback_at"]), cmd.at):
            raise OwnerRefused("a callback is promised for a time still to come")
        case.promise_callback(
            meta=self._meta(case),
            callback_at=cmd.args["callback_at"],
            reason=cmd.args["reason"],
            by=cmd.args["by"],
        )
        processing.collect_events(case)

    def _routed(self, complaint_id: str) -> RoutingCase:
        case = self.case_of(UUID(complaint_id))
        if case is None or not case.routed:
            raise CaseNotFound(f"no routed case for complaint {complaint_id}")
        return case

    def _meta(self, case: RoutingCase) -> EventMeta:
        """An ops command's events carry the case's brand and the complaint's trace."""
        trace_id = str(case.received.get("trace_id") or "0" * 32)
        return EventMeta(brand_id=case.brand_id, trace_id=trace_id, causation_id=None)

    def case_of(self, complaint_id: UUID) -> RoutingCase | None:
        found = self.get_or_none(complaint_id)
        return found if isinstance(found, RoutingCase) else None

    # --- the queue read model ---------------------------------------------------------

    def next_due_at(self, case: RoutingCase) -> datetime | None:
        """The case's next due time for the queue (the SLA clocks override this hook)."""
        return None

    def queue_writes(self, processing_event: ProcessingEvent[Any]) -> list[RowWrite]:
        writes: list[RowWrite] = []
        for aggregate in processing_event.aggregates.values():
            if isinstance(aggregate, RoutingCase) and aggregate.routed:
                writes.append(self._queue_row(aggregate))
        return writes

    def read_model_writes(self, processing_event: ProcessingEvent[Any]) -> list[RowWrite]:
        return [*super().read_model_writes(processing_event), *self.queue_writes(processing_event)]

    def _queue_row(self, case: RoutingCase) -> Upsert:
        due = self.next_due_at(case)
        severity = case.severity or "normal"
        return Upsert(
            QUEUE.name,
            {
                "complaint_id": str(case.id),
                "brand_id": case.brand_id,
                "team": case.team or "",
                "handler_id": case.handler_id or "",
                "owner_kind": case.owner_kind or "handler",
                "severity": severity,
                "priority": 2 - sev.RANK.get(severity, 0),
                "category": case.category,
                "mode": case.mode,
                "next_due_at": due,
                "due_order": due or FAR_FUTURE,
                "updated_at": case.modified_on,
            },
        )

    def queue_page(
        self,
        brands: list[str] | None,
        team: str | None,
        handler: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the queue, most urgent first (`brands` None: every brand)."""
        where: dict[str, Any] = {}
        if brands == []:
            return [], None
        if brands is not None:
            where["brand_id"] = Cmp("in", brands)
        if team:
            where["team"] = team
        if handler:
            where["handler_id"] = handler
        page = self.read_models.page(PageQuery(QUEUE.name, QUEUE_ORDER, where, cursor, limit))
        return page.rows, page.cursor
