"""Unit tests for followup's KPI projection (DOMAIN "What management measures" [002, 000, 004]).

A seeded set of 15 complaints: brand A (400,000 customers) with 11, brand B (125,000) with 4,
over March and April 2026 on the Shanghai calendar. Every expected figure is counted by hand
in the test, from the table in `seeded_events`.
"""

from __future__ import annotations

import random
from datetime import date
from fractions import Fraction
from typing import Any

from services.followup.kpis import Figure, KpiProjection, KpiReport

A, B = "brand-a", "brand-b"
CUSTOMERS = {A: 400_000, B: 125_000}
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
APRIL = (date(2026, 4, 1), date(2026, 4, 30))


class _Events:
    """Builds contract events as dicts, each with its own id."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, event_type: str, complaint: str, at: str, /, **payload: Any) -> None:
        brand = A if complaint.startswith("a") else B
        self.events.append(
            {
                "event_id": f"e-{len(self.events):03d}",
                "type": event_type,
                "complaint_id": complaint,
                "brand_id": brand,
                "occurred_at": f"2026-{at}Z",
                "payload": payload,
            }
        )

    def received(self, complaint: str, at: str, **payload: Any) -> None:
        self.add("ComplaintReceived", complaint, at, **payload)

    def classified(self, complaint: str, at: str, category: str, *dimensions: str) -> None:
        self.add(
            "ComplaintClassified",
            complaint,
            at,
            category=category,
            dimension=dimensions[0],
            dimensions=list(dimensions),
        )

    def offered(self, complaint: str, at: str, *options: dict[str, Any]) -> None:
        self.add("RemedyOptionsOffered", complaint, at, offer_id=f"o-{complaint}", options=options)

    def fulfilled(self, complaint: str, at: str, kind: str, fen: int, **parts: int) -> None:
        """The accepted option carried out; with `parts`, the fulfilment carries its includes
        itself, else they are the offered option's (option id "opt-<kind>")."""
        extra = {"includes": _parts(parts)} if parts else {}
        self.add(
            "RemedyFulfilled",
            complaint,
            at,
            fulfilment_id=f"f-{complaint}-{at}",
            offer_id=f"o-{complaint}",
            option_id=f"opt-{kind}",
            kind=kind,
            amount_fen=fen,
            **extra,
        )

    def revisit(self, complaint: str, at: str, revisit: str, rating: int | None = -1) -> None:
        """Scheduled at `at`, completed at 09:00 UTC that day unless rating is -1 (never)."""
        self.add("RevisitScheduled", complaint, at, revisit_id=revisit)
        if rating != -1:
            done: dict[str, Any] = {"revisit_id": revisit}
            if rating is not None:
                done["satisfaction"] = rating
            self.add("RevisitCompleted", complaint, at[:5] + "T09:00:00", **done)


def _parts(parts: dict[str, int]) -> list[dict[str, Any]]:
    return [{"kind": kind, "amount_fen": fen} for kind, fen in parts.items()]


def option(kind: str, fen: int, **parts: int) -> dict[str, Any]:
    """An option whose `amount_fen` is the value of all its parts (compensation's packages)."""
    return {"option_id": f"opt-{kind}", "kind": kind, "amount_fen": fen, "includes": _parts(parts)}


REGULATOR = {"regulator_id": "samr-sh", "transfer_number": "T-1", "deadline_working_days": 7}


def seeded_events() -> list[dict[str, Any]]:
    """The seeded history, in the order the streams published it (dates in UTC).

    | id  | received (Shanghai)  | SLA      | category (dims)         | remedies, revisits, end   |
    | a1  | 03-02                | met      | quality (rel)           | 20000 = refund 15000 +    |
    |     |                      |          |                         | offered comp. 5000; 5; res|
    | a2  | 03-03                | breached | quality (rel, resp)     | repair 10000, then comp.  |
    |     |                      |          |                         | 6000; 2 then 5; res, reop |
    | a3  | 03-05                | met      | delivery (resp)         | unrated revisit; closed   |
    | a4  | 03-10 regulator      | none     | service (emp, ass)      | settled; resolved         |
    | a5  | 03-12 regulator      | running  | quality→delivery (resp) | outcome pending           |
    | a6  | 03-15 group G1       | none     | quality (rel)           | revisit never completed   |
    | a7  | 03-16 group G1       | breached | quality (rel, tang)     |                           |
    | a8  | 03-18 nuisance       | breached | abuse (emp)             | 99999 (excluded)          |
    | a9  | 03-20, flagged later | none     |                         | revisit 1 (excluded)      |
    | a10 | 04-01 (03-31 16:30Z) | met      | service (emp)           |                           |
    | a11 | 04-10                | none     | quality (rel)           | 30000 = exchange 25000 +  |
    |     |                      |          |                         | shipping 5000; 4; res     |
    | b1  | 03-04                | breached | quality (rel)           | refund 50000; 1; reop res |
    | b2  | 03-06 transfer event | met      | price (ass)             | closed                    |
    | b3  | 04-02                | none     | quality (rel)           |                           |
    | b4  | 03-25 nuisance       | met      |                         |                           |
    """
    e = _Events()
    e.received("a1", "03-02T02:00:00")
    e.add("SlaStarted", "a1", "03-02T02:00:01", clause="acknowledge")
    e.classified("a1", "03-02T02:00:02", "quality", "reliability")
    e.add("SlaMet", "a1", "03-02T05:00:00", clause="acknowledge")
    # The refund option is worth 20000: 15000 refund plus a 5000 compensation part.
    e.offered(
        "a1", "03-03T03:00:00", option("refund", 20000, compensation=5000), option("repair", 0)
    )
    e.fulfilled("a1", "03-04T03:00:00", "refund", 20000)
    e.revisit("a1", "03-06T03:00:00", "r-a1", 5)
    e.add("ComplaintResolved", "a1", "03-07T03:00:00")

    e.received("a2", "03-03T01:00:00")
    e.add("SlaStarted", "a2", "03-03T01:00:01", clause="acknowledge")
    e.classified("a2", "03-03T01:00:02", "quality", "reliability", "responsiveness")
    e.add("SlaBreached", "a2", "03-04T01:00:01", clause="acknowledge")
    e.fulfilled("a2", "03-05T03:00:00", "repair", 10000)
    e.revisit("a2", "03-08T03:00:00", "r-a2", 2)
    e.add("ComplaintResolved", "a2", "03-08T04:00:00")
    e.add("ComplaintReopened", "a2", "03-09T04:00:00")
    e.fulfilled("a2", "03-12T03:00:00", "compensation", 6000)
    e.revisit("a2", "03-15T03:00:00", "r-a2b", 5)

    e.received("a3", "03-05T01:00:00")
    e.add("SlaStarted", "a3", "03-05T01:00:01", clause="acknowledge")
    e.add("SlaMet", "a3", "03-05T02:00:00", clause="acknowledge")
    e.classified("a3", "03-05T01:00:02", "delivery", "responsiveness")
    e.revisit("a3", "03-09T03:00:00", "r-a3", None)
    e.add("ComplaintClosed", "a3", "03-10T03:00:00")

    e.received("a4", "03-10T01:00:00", regulator=REGULATOR)
    e.classified("a4", "03-10T01:00:02", "service", "empathy", "assurance")
    e.add("ComplaintResolved", "a4", "03-17T01:00:00")
    e.add("RegulatorOutcomeReported", "a4", "03-18T01:00:00", outcome="settled")

    e.received("a5", "03-12T01:00:00", regulator=REGULATOR)
    e.add("RegulatorTransferReceived", "a5", "03-12T01:00:00", regulator_id="samr-sh")  # once
    e.add("SlaStarted", "a5", "03-12T01:00:01", clause="acknowledge")
    e.classified("a5", "03-12T01:00:02", "quality", "reliability")
    e.classified("a5", "03-13T01:00:02", "delivery", "responsiveness")  # the latest counts

    e.received("a6", "03-15T01:00:00")
    e.add("GroupComplaintLinked", "a6", "03-15T01:00:01", group_id="G1", member_count=2)
    e.classified("a6", "03-15T01:00:02", "quality", "reliability")
    e.revisit("a6", "03-20T01:00:00", "r-a6")

    e.received("a7", "03-16T01:00:00", group_id="G1")
    e.add("GroupComplaintLinked", "a7", "03-16T01:00:01", group_id="G1", member_count=2)
    e.add("SlaStarted", "a7", "03-16T01:00:01", clause="acknowledge")
    e.add("SlaBreached", "a7", "03-17T01:00:02", clause="acknowledge")
    e.classified("a7", "03-16T01:00:02", "quality", "reliability", "tangibles")

    e.received("a8", "03-18T01:00:00", nuisance=True)
    e.add("SlaStarted", "a8", "03-18T01:00:01", clause="acknowledge")
    e.add("SlaBreached", "a8", "03-19T01:00:02", clause="acknowledge")
    e.classified("a8", "03-18T01:00:02", "abuse", "empathy")
    e.fulfilled("a8", "03-19T03:00:00", "refund", 99999)

    e.received("a9", "03-20T01:00:00")
    e.revisit("a9", "03-21T01:00:00", "r-a9", 1)
    e.add("NuisanceFlagged", "a9", "03-22T01:00:00", source_ref="s-9", reason="abuse")

    e.received("a10", "03-31T16:30:00")  # 2026-04-01 00:30 in Shanghai: April
    e.add("SlaStarted", "a10", "03-31T16:30:01", clause="acknowledge")
    e.add("SlaMet", "a10", "03-31T18:30:01", clause="acknowledge")
    e.classified("a10", "03-31T16:30:02", "service", "empathy")

    e.received("a11", "04-10T01:00:00")
    e.classified("a11", "04-10T01:00:02", "quality", "reliability")
    e.fulfilled("a11", "04-12T03:00:00", "exchange", 30000, shipping=5000)  # its own includes
    e.revisit("a11", "04-15T03:00:00", "r-a11", 4)
    e.add("ComplaintResolved", "a11", "04-16T03:00:00")

    e.received("b1", "03-04T01:00:00")
    e.add("SlaStarted", "b1", "03-04T01:00:01", clause="acknowledge")
    e.add("SlaBreached", "b1", "03-05T01:00:01", clause="acknowledge")
    e.classified("b1", "03-04T01:00:02", "quality", "reliability")
    e.fulfilled("b1", "03-06T01:00:00", "refund", 50000)
    e.revisit("b1", "03-09T01:00:00", "r-b1", 1)
    e.add("ComplaintReopened", "b1", "03-10T01:00:00")
    e.add("ComplaintResolved", "b1", "03-14T01:00:00")

    e.received("b2", "03-06T01:00:00")
    e.add("SlaStarted", "b2", "03-06T01:00:01", clause="acknowledge")
    e.add("SlaMet", "b2", "03-06T02:00:01", clause="acknowledge")
    e.classified("b2", "03-06T01:00:02", "price", "assurance")
    e.add("RegulatorTransferReceived", "b2", "03-06T01:00:00", regulator_id="samr-sh")
    e.add("ComplaintClosed", "b2", "03-08T01:00:00")

    e.received("b3", "04-02T01:00:00")
    e.classified("b3", "04-02T01:00:02", "quality", "reliability")

    e.received("b4", "03-25T01:00:00", nuisance=True)
    e.add("SlaStarted", "b4", "03-25T01:00:01", clause="acknowledge")
    e.add("SlaMet", "b4", "03-25T02:00:01", clause="acknowledge")
    return e.events


def applied(events: list[dict[str, Any]]) -> KpiProjection:
    projection = KpiProjection(CUSTOMERS)
    for event in events:
        projection.apply(event)
    return projection


def all_reports(projection: KpiProjection) -> list[KpiReport]:
    return [projection.report(brand, *period) for brand in (A, B) for period in (MARCH, APRIL)]


def test_brand_a_march_figures_match_the_hand_count() -> None:
    report = applied(seeded_events()).report(A, *MARCH)
    # Received in March: a1–a9; a8 (nuisance at receipt) and a9 (flagged later) are apart.
    assert report.complaints == 7
    assert report.nuisance_contacts == 2
    # a6 and a7 are G1: two complaints, and one group.
    assert report.groups == 1
    # Clocks: a1 met, a2 breached, a3 met, a5 running, a7 breached (a4, a6 had none).
    assert report.on_time == Figure(3, 5)
    assert report.on_time.basis_points == 6000
    # Revisits scheduled for a1, a2, a3, a6; completed for a1, a2, a3 (a6 never).
    assert report.revisit == Figure(3, 4)
    # Ratings: a1 5, a2 2 then 5; a3 gave none, so is in neither count.
    assert report.satisfaction == Figure(2, 3)
    assert report.satisfaction.rate == Fraction(2, 3)
    assert report.satisfaction.basis_points == 6667
    # Fulfilled: a1 20000, a2 10000 + 6000 → 36000 fen over 2 complaints = 18000 each.
    assert report.cost_per_complaint_fen == Figure(36000, 2)
    assert report.cost_per_complaint_fen.rate == 18000
    # By part: a1's offered option (compensation 5000 included, so the refund itself is
    # 20000 - 5000 = 15000); a2's kinds (repair 10000, compensation 6000); over 2 complaints.
    assert report.cost_per_kind_fen == {
        "compensation": Figure(11000, 2),
        "refund": Figure(15000, 2),
        "repair": Figure(10000, 2),
    }
    # 7 complaints × 10,000 / 400,000 customers = 0.175.
    assert report.per_10k_customers == Figure(70000, 400_000)
    assert report.per_10k_customers.rate == Fraction(7, 40)
    # Resolved or closed: a1, a2, a3, a4; reopened: a2.
    assert report.reopen == Figure(1, 4)
    # Categories: quality a1 a2 a6 a7; delivery a3 a5 (reclassified); service a4.
    assert report.top_categories == [("quality", 4), ("delivery", 2), ("service", 1)]
    # reliability a1 a2 a6 a7; responsiveness a2 a3 a5; then a4's two and a7's tangibles.
    assert report.dimensions == [
        ("reliability", 4),
        ("responsiveness", 3),
        ("assurance", 1),
        ("empathy", 1),
        ("tangibles", 1),
    ]
    # Transfers a4 (settled) and a5 (no outcome yet; its transfer event makes it no second).
    assert report.regulator_transfers == 2
    assert report.regulator_outcomes == {"pending": 1, "settled": 1}


def test_brand_a_april_counts_the_complaint_received_after_midnight_in_shanghai() -> None:
    report = applied(seeded_events()).report(A, *APRIL)
    # a10 (03-31 16:30 UTC is 04-01 in Shanghai) and a11.
    assert report.complaints == 2
    assert (report.groups, report.nuisance_contacts) == (0, 0)
    assert report.on_time == Figure(1, 1)  # a10 met; a11 had no clock
    assert report.revisit == Figure(1, 1)  # a11
    assert report.satisfaction == Figure(1, 1)  # a11 rated 4: satisfied
    assert report.cost_per_complaint_fen == Figure(30000, 1)
    # a11's fulfilment carries its includes: shipping 5000, so the exchange is 25000.
    assert report.cost_per_kind_fen == {"exchange": Figure(25000, 1), "shipping": Figure(5000, 1)}
    assert report.per_10k_customers == Figure(20000, 400_000)  # 0.05
    assert report.reopen == Figure(0, 1)  # a11 resolved, not reopened
    assert report.top_categories == [("quality", 1), ("service", 1)]
    assert report.regulator_transfers == 0


def test_brand_b_march_figures_match_the_hand_count() -> None:
    report = applied(seeded_events()).report(B, *MARCH)
    # b1, b2; b4 is nuisance (its met clock is not counted); b3 is April.
    assert (report.complaints, report.nuisance_contacts, report.groups) == (2, 1, 0)
    assert report.on_time == Figure(1, 2)  # b1 breached, b2 met
    assert report.revisit == Figure(1, 1)  # b1
    assert report.satisfaction == Figure(0, 1)  # b1 rated 1
    assert report.cost_per_complaint_fen == Figure(50000, 1)
    assert report.per_10k_customers == Figure(20000, 125_000)
    assert report.per_10k_customers.rate == Fraction(4, 25)
    assert report.reopen == Figure(1, 2)  # b1 reopened; b1 resolved and b2 closed
    assert report.top_categories == [("price", 1), ("quality", 1)]  # ties by name
    assert report.regulator_outcomes == {"pending": 1}  # b2, told by its transfer event


def test_a_period_without_measurements_has_no_rate() -> None:
    report = applied(seeded_events()).report(B, *APRIL)
    assert report.complaints == 1  # b3
    assert report.on_time == Figure(0, 0)
    assert report.on_time.rate is None
    assert report.on_time.basis_points is None
    assert report.cost_per_complaint_fen.rate is None


def test_out_of_order_application_gives_the_same_reports() -> None:
    events = seeded_events()
    expected = all_reports(applied(events))
    for seed in range(5):
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        assert all_reports(applied(shuffled)) == expected
    assert all_reports(applied(events[::-1])) == expected


def test_rebuilding_from_scratch_equals_the_incremental_projection() -> None:
    events = seeded_events()
    incremental = KpiProjection(CUSTOMERS)
    by_stream_interleaved = sorted(events, key=lambda e: (e["type"], e["event_id"]))
    for event in by_stream_interleaved:
        incremental.apply(event)
    assert all_reports(KpiProjection.rebuilt(events, CUSTOMERS)) == all_reports(incremental)


def test_a_redelivered_event_is_counted_once() -> None:
    events = seeded_events()
    assert all_reports(applied(events + events)) == all_reports(applied(events))


def test_a_revisit_completed_again_counts_its_latest_rating() -> None:
    events = seeded_events()
    again = {
        "event_id": "e-again",
        "type": "RevisitCompleted",
        "complaint_id": "b1",
        "brand_id": B,
        "occurred_at": "2026-03-12T00:00:00Z",
        "payload": {"revisit_id": "r-b1", "satisfaction": 4},  # b1 rated 1 on 03-09, now 4
    }
    for order in ([*events, again], [again, *events]):
        assert applied(order).report(B, *MARCH).satisfaction == Figure(1, 1)


def test_brands_are_isolated() -> None:
    events = seeded_events()
    only_a = [e for e in events if e["brand_id"] == A]
    with_b = applied(events)
    without_b = applied(only_a)
    for period in (MARCH, APRIL):
        assert with_b.report(A, *period) == without_b.report(A, *period)
        assert without_b.report(B, *period).complaints == 0


def test_a_brand_without_customer_data_has_no_complaints_per_10k() -> None:
    projection = KpiProjection()
    for event in seeded_events():
        projection.apply(event)
    assert projection.report(A, *MARCH).per_10k_customers is None


def test_nuisance_contacts_are_in_no_figure() -> None:
    events = seeded_events()
    without_nuisance = [e for e in events if e["complaint_id"] not in {"a8", "a9"}]
    with_them = applied(events).report(A, *MARCH)
    without_them = applied(without_nuisance).report(A, *MARCH)
    assert with_them.nuisance_contacts == 2
    assert without_them.nuisance_contacts == 0
    assert with_them == KpiReport(**{**vars(without_them), "nuisance_contacts": 2})


def test_a_group_counts_its_complaints_and_once_as_a_group() -> None:
    report = applied(seeded_events()).report(A, date(2026, 3, 15), date(2026, 3, 16))
    # a6 (linked after receipt) and a7 (received in the group) are both G1.
    assert report.complaints == 2
    assert report.groups == 1
