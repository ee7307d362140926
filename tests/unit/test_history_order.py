"""Unit tests for shared.history.causal_order: a complaint's history in causal order.

Four services stamp events with their own clocks, so `occurred_at` can disagree with
causation (clock skew); the causation chain and each stream's sequence win over time.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from uuid import UUID

from shared.contracts import STREAMS, ContractEvent
from shared.history import HistoryEntry, causal_order

COMPLAINT_ID = UUID("1d3e5f70-8192-4a3b-8c5d-6e7f80912a3b")
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def entry(
    number: int,
    service: str,
    sequence: int,
    seconds: float,
    cause: int | str | None = None,
    event_type: str = "Something",
) -> HistoryEntry:
    causation = str(UUID(int=cause)) if isinstance(cause, int) else cause
    event = ContractEvent(
        event_id=UUID(int=number),
        type=event_type,
        service=service,
        complaint_id=COMPLAINT_ID,
        brand_id="acme",
        occurred_at=T0 + timedelta(seconds=seconds),
        trace_id="ab" * 16,
        causation_id=causation,
        correlation_id=COMPLAINT_ID,
        payload={},
    )
    return HistoryEntry(event, STREAMS[service], sequence)


def numbers(entries: list[HistoryEntry]) -> list[int]:
    return [e.event.event_id.int for e in entries]


def test_effect_follows_its_cause_even_when_its_clock_says_earlier() -> None:
    received = entry(1, "intake", 1, seconds=5.0)  # intake's clock runs 4 s ahead
    classified = entry(2, "routing", 1, seconds=1.0, cause=1)
    assert numbers(causal_order([classified, received])) == [1, 2]


def test_a_causal_chain_across_all_four_streams_survives_skew_in_every_clock() -> None:
    chain = [
        entry(1, "intake", 1, seconds=9.0, event_type="ComplaintReceived"),
        entry(2, "routing", 1, seconds=3.0, cause=1, event_type="HandlerAssigned"),
        entry(3, "compensation", 1, seconds=7.0, cause=2, event_type="RemedyOptionsOffered"),
        entry(4, "intake", 2, seconds=1.0, cause=3, event_type="ConsumerActed"),
        entry(5, "compensation", 2, seconds=0.5, cause=4, event_type="OfferAccepted"),
        entry(6, "followup", 1, seconds=0.0, cause=5, event_type="RevisitScheduled"),
    ]
    for permutation in itertools.permutations(chain):
        assert numbers(causal_order(list(permutation))) == [1, 2, 3, 4, 5, 6]


def test_events_of_one_stream_keep_their_sequence_order_whatever_their_times() -> None:
    apology = entry(1, "compensation", 1, seconds=8.0, event_type="ApologyIssued")
    offer = entry(2, "compensation", 2, seconds=2.0, event_type="RemedyOptionsOffered")
    assert numbers(causal_order([offer, apology])) == [1, 2]


def test_sequence_order_holds_with_gaps_in_the_sequence_numbers() -> None:
    entries = [entry(n, "intake", seq, seconds=10 - n) for n, seq in ((1, 3), (2, 17), (3, 40))]
    assert numbers(causal_order(entries[::-1])) == [1, 2, 3]


def test_unrelated_events_are_ordered_by_time() -> None:
    entries = [
        entry(1, "routing", 1, seconds=3.0),
        entry(2, "compensation", 1, seconds=1.0),
        entry(3, "followup", 1, seconds=2.0),
    ]
    assert numbers(causal_order(entries)) == [2, 3, 1]


def test_among_ready_events_the_earliest_goes_first() -> None:
    received = entry(1, "intake", 1, seconds=0.0)
    classified = entry(2, "routing", 1, seconds=4.0, cause=1)
    opened = entry(3, "followup", 1, seconds=2.0, cause=1)
    assert numbers(causal_order([classified, opened, received])) == [1, 3, 2]


def test_event_whose_cause_is_missing_is_kept_and_placed_by_time() -> None:
    received = entry(1, "intake", 1, seconds=0.0)
    orphan = entry(2, "compensation", 1, seconds=1.0, cause=999)  # cause not in this history
    later = entry(3, "routing", 1, seconds=2.0, cause=1)
    assert numbers(causal_order([later, orphan, received])) == [1, 2, 3]


def test_event_caused_by_something_that_is_not_an_event_id_is_kept() -> None:
    command_caused = entry(1, "intake", 1, seconds=0.0, cause="http-request-42")
    self_caused = entry(2, "routing", 1, seconds=1.0, cause=2)
    assert numbers(causal_order([self_caused, command_caused])) == [1, 2]


def test_nothing_is_dropped_or_duplicated() -> None:
    entries = [entry(n, service, n, seconds=(n * 7) % 5) for n, service in enumerate(STREAMS, 1)]
    entries.append(entry(9, "routing", 10, seconds=0.0, cause=12345))
    ordered = causal_order(entries)
    assert sorted(numbers(ordered)) == sorted(numbers(entries))


def test_empty_history_is_empty() -> None:
    assert causal_order([]) == []
