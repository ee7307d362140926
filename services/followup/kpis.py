"""Management KPIs (DOMAIN "What management measures") folded from the four streams' events.

Pure: no I/O, no clock. `KpiProjection.apply` records facts per complaint, and `report` derives
the figures from them, so the figures do not depend on the order events were applied in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
SATISFIED_FROM = 4  # 满意: 4 or 5 on the 1–5 scale
PER_CUSTOMERS = 10_000  # 万户投诉比

Event = Mapping[str, Any]


@dataclass(frozen=True)
class Figure:
    """A ratio kept as its two integers; the rate is exact, never a float."""

    numerator: int
    denominator: int

    @property
    def rate(self) -> Fraction | None:
        """The exact ratio, or None when nothing was measured."""
        return Fraction(self.numerator, self.denominator) if self.denominator else None

    @property
    def basis_points(self) -> int | None:
        """The rate in basis points (1/10,000), rounded half up."""
        if not self.denominator:
            return None
        return (self.numerator * 20_000 + self.denominator) // (2 * self.denominator)


@dataclass(frozen=True)
class KpiReport:
    """One brand's figures over the complaints received on Shanghai dates from..to (inclusive).

    - `on_time` 及时率: complaints with SLA clocks and no clause breached / with clocks.
    - `revisit` 回访率: complaints with a revisit completed / with a revisit scheduled (a
      revisit is planned for every accepted remedy, so "scheduled" is what was owed).
    - `satisfaction` 满意率: revisits rated 4 or 5 / revisits completed with a rating; a
      revisit without `satisfaction` is in neither (unknown is not unhappy).
    - `cost_per_complaint_fen`: remedies fulfilled (fen) / complaints fulfilled. Per part
      kind over the same denominator, so the kinds add up to the whole: an option's
      `amount_fen` is the value of all its parts, `includes` lists the parts after the first
      (compensation's packages), and the first, of the option's kind, is the remainder.
    - `per_10k_customers` 万户投诉比: complaints × 10,000 / the brand's customers.
    - `reopen`: complaints reopened / complaints resolved or closed.
    - A group's members each count as complaints, and the group counts once in `groups`.
    - Nuisance contacts are in no figure, only in `nuisance_contacts`.
    - A regulator transfer (ComplaintReceived `regulator` or RegulatorTransferReceived) has
      the latest RegulatorOutcomeReported `outcome`, or "pending".
    """

    brand_id: str
    from_date: date
    to_date: date
    complaints: int
    groups: int
    nuisance_contacts: int
    on_time: Figure
    revisit: Figure
    satisfaction: Figure
    cost_per_complaint_fen: Figure
    cost_per_kind_fen: dict[str, Figure]
    per_10k_customers: Figure | None
    reopen: Figure
    top_categories: list[tuple[str, int]]
    dimensions: list[tuple[str, int]]
    regulator_transfers: int
    regulator_outcomes: dict[str, int]


_Part = tuple[str, int]  # (kind, amount_fen)


@dataclass(frozen=True)
class _Fulfilment:
    """One remedy carried out; its parts are its own `includes` when it carries them, else
    the includes of the option offered (joined at report time, whatever came first)."""

    option: tuple[str, str]  # (offer_id, option_id)
    kind: str
    amount_fen: int
    includes: list[_Part] | None

    def parts(self, offered: Mapping[tuple[str, str], list[_Part]]) -> list[_Part]:
        """The option's value by kind: its first part is the remainder after `includes`."""
        includes = self.includes if self.includes is not None else offered.get(self.option, [])
        head = self.amount_fen - sum(fen for _, fen in includes)
        return [(self.kind, head), *includes] if head else list(includes)


@dataclass
class _Complaint:
    """What the events said about one complaint, kept as order-free facts."""

    received_on: date | None = None
    nuisance: bool = False
    group_id: str | None = None
    regulator: bool = False
    regulator_outcome: tuple[str, str, str] | None = None  # (occurred_at, event id, outcome)
    sla_clocks: bool = False
    sla_breached: bool = False
    revisits_scheduled: set[str] = field(default_factory=set)
    # revisit id -> (occurred_at in UTC, event id, rating): a revisit completed again counts
    # its latest rating
    ratings: dict[str, tuple[str, str, int | None]] = field(default_factory=dict)
    fulfilments: dict[str, _Fulfilment] = field(default_factory=dict)  # by fulfilment id
    offered_parts: dict[tuple[str, str], list[_Part]] = field(default_factory=dict)
    reopened: bool = False
    resolved_or_closed: bool = False
    classification: tuple[str, str, str, tuple[str, ...]] | None = None  # latest one


def _instant(event: Event) -> datetime:
    """When the event happened; a time without a zone is UTC (never the machine's zone)."""
    at = datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00"))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _event_id(event: Event) -> str:
    return str(event.get("event_id") or "")


def order_key(event: Event) -> tuple[datetime, str]:
    """Events across streams in the order they happened: occurred_at, then event id."""
    return (_instant(event), _event_id(event))


def _shanghai_date(event: Event) -> date:
    return _instant(event).astimezone(SHANGHAI).date()


def _utc(event: Event) -> str:
    return _instant(event).astimezone(UTC).isoformat()


def _latest(current: tuple[Any, ...] | None, candidate: tuple[Any, ...]) -> bool:
    """Whether `candidate` (occurred_at in UTC, event id, ...) happened after `current`."""
    return current is None or candidate[:2] > current[:2]


class KpiProjection:
    """The KPI fold over contract events (dicts with type, complaint_id, brand_id,
    occurred_at, payload, and event_id where known); per-brand customer counts are data."""

    def __init__(self, customers: Mapping[str, int] | None = None) -> None:
        self.customers = dict(customers or {})
        self._complaints: dict[tuple[str, str], _Complaint] = {}
        self._seen: set[str] = set()

    @classmethod
    def rebuilt(
        cls, events: Iterable[Event], customers: Mapping[str, int] | None = None
    ) -> KpiProjection:
        """The projection from scratch: every event applied in the order it happened."""
        projection = cls(customers)
        for event in sorted(events, key=order_key):
            projection.apply(event)
        return projection

    def apply(self, event: Event) -> None:
        """Record one event's facts; an event id seen before is ignored (redelivery)."""
        event_id = _event_id(event)
        if event_id:
            if event_id in self._seen:
                return
            self._seen.add(event_id)
        handler = _HANDLERS.get(str(event["type"]))
        if handler is not None:
            key = (str(event["brand_id"]), str(event["complaint_id"]))
            handler(self._complaints.setdefault(key, _Complaint()), event, event_id)

    def report(self, brand: str, from_date: date, to_date: date) -> KpiReport:
        """The brand's figures over complaints received on Shanghai dates from..to."""
        received = [
            c
            for (brand_id, _), c in sorted(self._complaints.items())
            if brand_id == brand
            and c.received_on is not None
            and from_date <= c.received_on <= to_date
        ]
        counted = [c for c in received if not c.nuisance]
        return KpiReport(
            brand_id=brand,
            from_date=from_date,
            to_date=to_date,
            complaints=len(counted),
            groups=len({c.group_id for c in counted if c.group_id}),
            nuisance_contacts=len(received) - len(counted),
            on_time=_on_time(counted),
            revisit=_count(
                counted, lambda c: bool(c.ratings), lambda c: bool(c.revisits_scheduled)
            ),
            satisfaction=_satisfaction(counted),
            cost_per_complaint_fen=_cost(counted),
            cost_per_kind_fen=_cost_per_kind(counted),
            per_10k_customers=self._per_10k(brand, len(counted)),
            reopen=_count(counted, lambda c: c.reopened, lambda c: c.resolved_or_closed),
            top_categories=_ranked(
                c.classification[2] for c in counted if c.classification is not None
            ),
            dimensions=_ranked(
                d for c in counted if c.classification is not None for d in c.classification[3]
            ),
            regulator_transfers=sum(1 for c in counted if c.regulator),
            regulator_outcomes=_regulator_outcomes(counted),
        )

    def _per_10k(self, brand: str, complaints: int) -> Figure | None:
        customers = self.customers.get(brand)
        return Figure(complaints * PER_CUSTOMERS, customers) if customers else None


def _count(
    complaints: list[_Complaint],
    counts: Callable[[_Complaint], bool],
    measured: Callable[[_Complaint], bool],
) -> Figure:
    """Of the complaints `measured` applies to, how many `counts` applies to."""
    pool = [c for c in complaints if measured(c)]
    return Figure(sum(1 for c in pool if counts(c)), len(pool))


def _on_time(complaints: list[_Complaint]) -> Figure:
    return _count(complaints, lambda c: not c.sla_breached, lambda c: c.sla_clocks)


def _satisfaction(complaints: list[_Complaint]) -> Figure:
    rated = [r for c in complaints for _, _, r in c.ratings.values() if r is not None]
    return Figure(sum(1 for r in rated if r >= SATISFIED_FROM), len(rated))


def _cost(complaints: list[_Complaint]) -> Figure:
    fulfilled = [c for c in complaints if c.fulfilments]
    spent = sum(f.amount_fen for c in fulfilled for f in c.fulfilments.values())
    return Figure(spent, len(fulfilled))


def _cost_per_kind(complaints: list[_Complaint]) -> dict[str, Figure]:
    fulfilled = sum(1 for c in complaints if c.fulfilments)
    by_kind: Counter[str] = Counter()
    for c in complaints:
        for fulfilment in c.fulfilments.values():
            for kind, fen in fulfilment.parts(c.offered_parts):
                by_kind[kind] += fen
    return {kind: Figure(fen, fulfilled) for kind, fen in sorted(by_kind.items())}


def _ranked(values: Iterable[str]) -> list[tuple[str, int]]:
    """Most frequent first; ties by name, so the order is stable."""
    return sorted(Counter(values).items(), key=lambda item: (-item[1], item[0]))


def _regulator_outcomes(complaints: list[_Complaint]) -> dict[str, int]:
    outcomes = Counter(
        c.regulator_outcome[2] if c.regulator_outcome else "pending"
        for c in complaints
        if c.regulator
    )
    return dict(sorted(outcomes.items()))


def _received(c: _Complaint, event: Event, _: str) -> None:
    payload = event.get("payload") or {}
    c.received_on = _shanghai_date(event)
    c.nuisance = c.nuisance or bool(payload.get("nuisance"))
    c.group_id = c.group_id or payload.get("group_id")
    c.regulator = c.regulator or payload.get("regulator") is not None


def _transferred(c: _Complaint, event: Event, _: str) -> None:
    c.regulator = True


def _nuisance(c: _Complaint, event: Event, _: str) -> None:
    c.nuisance = True


def _grouped(c: _Complaint, event: Event, _: str) -> None:
    c.group_id = str((event.get("payload") or {})["group_id"])


def _sla_started(c: _Complaint, event: Event, _: str) -> None:
    c.sla_clocks = True


def _sla_breached(c: _Complaint, event: Event, _: str) -> None:
    c.sla_clocks = True
    c.sla_breached = True


def _revisit_scheduled(c: _Complaint, event: Event, event_id: str) -> None:
    payload = event.get("payload") or {}
    c.revisits_scheduled.add(str(payload.get("revisit_id") or event_id))


def _revisit_completed(c: _Complaint, event: Event, event_id: str) -> None:
    payload = event.get("payload") or {}
    rating = payload.get("satisfaction")
    key = str(payload.get("revisit_id") or event_id)
    candidate = (_utc(event), event_id, int(rating) if rating is not None else None)
    if _latest(c.ratings.get(key), candidate):
        c.ratings[key] = candidate


def _fulfilled(c: _Complaint, event: Event, event_id: str) -> None:
    payload = event.get("payload") or {}
    includes = payload.get("includes")
    c.fulfilments[str(payload.get("fulfilment_id") or event_id)] = _Fulfilment(
        option=(str(payload.get("offer_id")), str(payload.get("option_id"))),
        kind=str(payload["kind"]),
        amount_fen=int(payload["amount_fen"]),
        includes=None if includes is None else _parts(includes),
    )


def _offered(c: _Complaint, event: Event, _: str) -> None:
    payload = event.get("payload") or {}
    for option in payload.get("options") or []:
        key = (str(payload["offer_id"]), str(option["option_id"]))
        c.offered_parts[key] = _parts(option.get("includes") or [])


def _parts(includes: Iterable[Mapping[str, Any]]) -> list[_Part]:
    return [(str(p["kind"]), int(p["amount_fen"])) for p in includes]


def _reopened(c: _Complaint, event: Event, _: str) -> None:
    c.reopened = True


def _resolved_or_closed(c: _Complaint, event: Event, _: str) -> None:
    c.resolved_or_closed = True


def _classified(c: _Complaint, event: Event, event_id: str) -> None:
    payload = event.get("payload") or {}
    dimensions = tuple(str(d) for d in payload.get("dimensions") or [payload["dimension"]])
    candidate = (_utc(event), event_id, str(payload["category"]), dimensions)
    if _latest(c.classification, candidate):
        c.classification = candidate


def _regulator_outcome(c: _Complaint, event: Event, event_id: str) -> None:
    payload = event.get("payload") or {}
    candidate = (_utc(event), event_id, str(payload["outcome"]))
    if _latest(c.regulator_outcome, candidate):
        c.regulator_outcome = candidate


_HANDLERS = {
    "ComplaintReceived": _received,
    "RegulatorTransferReceived": _transferred,
    "NuisanceFlagged": _nuisance,
    "GroupComplaintLinked": _grouped,
    "SlaStarted": _sla_started,
    "SlaMet": _sla_started,
    "SlaBreached": _sla_breached,
    "RevisitScheduled": _revisit_scheduled,
    "RevisitCompleted": _revisit_completed,
    "RemedyOptionsOffered": _offered,
    "RemedyFulfilled": _fulfilled,
    "ComplaintReopened": _reopened,
    "ComplaintResolved": _resolved_or_closed,
    "ComplaintClosed": _resolved_or_closed,
    "ComplaintClassified": _classified,
    "RegulatorOutcomeReported": _regulator_outcome,
}
