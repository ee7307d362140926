"""Intake's status feed learns "awaiting_approval" and "fulfilled" (issue 19).

An approval request is a visible wait (before acceptance); the next offer or a denial
leaves it, a denial back to where the wait began (moved on by what arrived meanwhile).
RemedyFulfilled comes after acceptance and before the revisit. Intake reads three streams
on separate consumers: every interleaving that keeps each stream's own order ends in the
same status, and the status never moves backwards except into the designed wait.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake.domain import Complaint
from services.intake.statuses import AWAITING_APPROVAL, STATUS_ORDER, step
from shared.inputs import input_clock
from tests.unit.test_domain_rules import META, new_complaint, upstream


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    """Events are created while an input is processed (shared.inputs)."""
    with input_clock(datetime(2026, 3, 5, 2, 0, tzinfo=UTC)):
        yield


def observed(*event_types: str) -> Complaint:
    complaint = new_complaint()
    for event_type in event_types:
        complaint.observe(meta=META, contract=upstream(event_type))
    return complaint


def test_an_approval_request_is_a_visible_wait_left_by_the_next_offer() -> None:
    complaint = observed("ComplaintClassified", "HandlerAssigned", "ApprovalRequested")
    assert complaint.status == "awaiting_approval"
    assert complaint.approval == {
        "approval_id": "approval-1",
        "offer_round": 1,
        "options": [
            {"option_id": "opt-refund", "kind": "refund", "amount_fen": 30_000,
             "description": "Refund"},
        ],
        "reason": "above the handler's authority",
    }  # fmt: skip
    complaint.observe(meta=META, contract=upstream("ApprovalGranted"))
    assert complaint.status == "awaiting_approval", "granted: the offer follows"
    complaint.observe(meta=META, contract=upstream("RemedyOptionsOffered"))
    assert complaint.status == "offered"
    assert complaint.approval is None


def test_a_denial_returns_to_where_the_wait_began() -> None:
    complaint = observed("HandlerAssigned", "RemedyOptionsOffered", "CounterProposalReceived")
    assert complaint.status == "negotiating"
    complaint.observe(meta=META, contract=upstream("ApprovalRequested"))  # round 2 waits
    assert complaint.status == "awaiting_approval"
    complaint.observe(meta=META, contract=upstream("ApprovalDenied"))
    assert complaint.status == "negotiating"
    assert complaint.approval is None


def test_routing_events_arriving_during_the_wait_move_its_origin_not_the_status() -> None:
    complaint = observed("ApprovalRequested", "ComplaintClassified", "HandlerAssigned")
    assert complaint.status == "awaiting_approval"
    complaint.observe(meta=META, contract=upstream("ApprovalDenied"))
    assert complaint.status == "assigned", "not back to 'received'"


def test_an_approval_request_after_acceptance_changes_nothing() -> None:
    complaint = observed("HandlerAssigned", "RemedyOptionsOffered", "OfferAccepted")
    complaint.observe(meta=META, contract=upstream("ApprovalRequested"))
    assert complaint.status == "accepted"


def test_fulfilled_after_accepted_and_after_the_planned_revisit() -> None:
    complaint = observed("HandlerAssigned", "RemedyOptionsOffered", "OfferAccepted")
    complaint.observe(meta=META, contract=upstream("RemedyFulfilled"))
    assert complaint.status == "fulfilled"
    assert complaint.fulfilment == {
        "fulfilment_id": "fulfilment-1",
        "offer_id": "offer-1",
        "option_id": "opt-refund",
        "kind": "refund",
        "amount_fen": 30_000,
        "reference": "REF-1",
        "at": "2026-03-05T02:00:00Z",
    }
    complaint.observe(meta=META, contract=upstream("RevisitScheduled"))
    assert complaint.status == "fulfilled", "a revisit planned later keeps it fulfilled"
    planned = observed("HandlerAssigned", "OfferAccepted", "RevisitScheduled", "RemedyFulfilled")
    assert planned.status == "fulfilled", "the remedy carried out after the revisit was planned"
    planned.observe(meta=META, contract=upstream("RevisitCompleted"))
    assert planned.status == "revisited"
    assert planned.fulfilment is not None, "the fulfilment is shown all the same"


def interleavings(*streams: list[str]) -> Iterator[list[str]]:
    """Every merge of the streams that keeps each stream's own order."""
    live = [s for s in streams if s]
    if not live:
        yield []
        return
    for index, stream in enumerate(live):
        rest = [*live[:index], stream[1:], *live[index + 1 :]]
        for tail in interleavings(*rest):
            yield [stream[0], *tail]


def statuses(events: list[str]) -> list[str]:
    complaint = new_complaint()
    seen = []
    for event_type in events:
        complaint.observe(meta=META, contract=upstream(event_type))
        seen.append(complaint.status)
    return seen


ROUTING = ["ComplaintClassified", "HandlerAssigned"]


@pytest.mark.parametrize(
    ("compensation", "followup", "final"),
    [
        (
            ["ApprovalRequested", "ApprovalGranted", "RemedyOptionsOffered", "OfferAccepted",
             "RemedyFulfilled"],
            ["RevisitScheduled"],
            "fulfilled",
        ),
        (["ApprovalRequested", "ApprovalGranted", "RemedyOptionsOffered"], [], "offered"),
        (["ApprovalRequested", "ApprovalDenied"], [], "assigned"),
        (["ApprovalRequested"], [], "awaiting_approval"),
        (["RemedyOptionsOffered", "OfferAccepted", "RemedyFulfilled"], [], "fulfilled"),
    ],
    ids=["approved-fulfilled-revisited", "approved", "denied", "waiting", "fulfilled"],
)  # fmt: skip
def test_every_cross_stream_order_ends_in_the_same_status_never_moving_back(
    compensation: list[str], followup: list[str], final: str
) -> None:
    orders = list(interleavings(ROUTING, compensation, followup))
    assert len(orders) > 1
    for events in orders:
        seen = statuses(events)
        assert seen[-1] == final, events
        for before, after, event_type in zip(seen, seen[1:], events[1:], strict=False):
            rank: Any = STATUS_ORDER.index
            designed = after == AWAITING_APPROVAL or event_type == "ApprovalDenied"
            assert rank(after) >= rank(before) or designed, (events, before, after)


def test_the_step_function_keeps_no_wait_once_it_is_over() -> None:
    assert step("awaiting_approval", "assigned", "RemedyOptionsOffered").before_approval is None
    assert step("awaiting_approval", "assigned", "ComplaintClosed").status == "closed"
    assert step("awaiting_approval", "assigned", "ComplaintReopened").status == "reopened"
    assert step("awaiting_approval", "received", "Escalated").before_approval == "received"


def test_a_pending_approval_ends_with_the_wait_however_it_ends() -> None:
    closed = observed("HandlerAssigned", "ApprovalRequested", "ComplaintClosed")
    assert (closed.status, closed.approval) == ("closed", None)
    withdrawn = observed("HandlerAssigned", "ApprovalRequested")
    assert withdrawn.approval is not None
    withdrawn.withdraw(meta=META, reason="不需要了")
    assert (withdrawn.status, withdrawn.approval) == ("withdrawn", None)
    late = observed("HandlerAssigned", "RemedyOptionsOffered", "OfferAccepted")
    late.observe(meta=META, contract=upstream("ApprovalRequested"))
    assert (late.status, late.approval) == ("accepted", None), "no wait after acceptance"
