"""Unit tests for the aggregates' rules, exercised in memory (no store, no bus).

Intake's Complaint: the consumer decides on the offer that stands (step 8) and may
withdraw once; its status follows what the other services publish (STATUS_AFTER).
Compensation's CompensationCase: options of the open offer only; apology and offer
once both the complaint and its handler are known, whichever arrives first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from services.compensation.domain import CompensationCase, OfferNotStanding
from services.intake.domain import Complaint
from services.intake.errors import ComplaintClosedForActions, IntakeError, OfferNotOpen
from services.intake.statuses import STATUS_AFTER
from shared.contracts import make_contract
from shared.inputs import input_clock
from shared.store import EventMeta

COMPLAINT_ID = UUID("9a7e4c1b-6d2f-4b8a-a3e5-1c0d9f8e7b6a")
META = EventMeta("acme", "ab" * 16, None)
OFFER_ID = "offer-1"
OPTIONS = [
    {"option_id": "opt-refund", "kind": "refund", "amount_fen": 30_000, "description": "Refund"},
    {"option_id": "opt-voucher", "kind": "voucher", "amount_fen": 2_000, "description": "Voucher"},
]
# Minimal payloads of the status feed's event types (the fields Complaint.observe reads).
FEED_PAYLOADS: dict[str, dict[str, Any]] = {
    "ComplaintClassified": {"category": "product_quality"},
    "HandlerAssigned": {"handler_id": "handler-li"},
    "RemedyOptionsOffered": {"offer_id": OFFER_ID, "options": OPTIONS},
    "RevisitScheduled": {"due_date": "2026-03-06"},
    "ApprovalRequested": {
        "approval_id": "approval-1",
        "offer_round": 1,
        "options": OPTIONS[:1],
        "reason": "above the handler's authority",
    },
    "RemedyFulfilled": {
        "fulfilment_id": "fulfilment-1",
        "offer_id": OFFER_ID,
        "option_id": "opt-refund",
        "kind": "refund",
        "amount_fen": 30_000,
        "reference": "REF-1",
    },
}


def upstream(event_type: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """An upstream contract as a dict, the way services record and observe them."""
    return {
        "type": event_type,
        "payload": payload or FEED_PAYLOADS.get(event_type, {}),
        "occurred_at": "2026-03-05T02:00:00Z",
    }


def new_complaint() -> Complaint:
    return Complaint(
        id=COMPLAINT_ID,
        meta=META,
        channel="phone",
        subject_ref="subject-1",
        product={"category": "microwave"},
        order={"price_fen": 30_000},
        description="加热不了",
        demands=[{"kind": "refund", "amount_fen": None}],
        attachments=[],
        media_exposure=False,
        injury=False,
        regulator=None,
        group_id=None,
        nuisance=False,
    )


def offered_complaint() -> Complaint:
    complaint = new_complaint()
    complaint.observe(meta=META, contract=upstream("RemedyOptionsOffered"))
    return complaint


def recorded(aggregate: Any) -> list[str]:
    return [type(e).__name__ for e in aggregate.collect_events()]


# --- intake: the consumer's answer (step 8) ---------------------------------------------


def test_accepting_an_option_of_the_open_offer_records_consumer_acted() -> None:
    complaint = offered_complaint()
    recorded(complaint)
    complaint.act(meta=META, action="accept", offer_id=OFFER_ID, option_id="opt-voucher")
    assert recorded(complaint) == ["ConsumerActed"]
    assert complaint.offer_status == "accepting"


@pytest.mark.parametrize(("action", "status"), [("reject", "rejecting"), ("counter", "countering")])
def test_reject_and_counter_need_no_option(action: str, status: str) -> None:
    complaint = offered_complaint()
    complaint.act(meta=META, action=action, offer_id=OFFER_ID, reason="too little")
    assert complaint.offer_status == status


def test_act_is_refused_when_no_offer_was_made() -> None:
    complaint = new_complaint()
    with pytest.raises(OfferNotOpen, match="no offer"):
        complaint.act(meta=META, action="accept", offer_id=OFFER_ID, option_id="opt-refund")


def test_act_on_another_offer_id_is_refused() -> None:
    with pytest.raises(OfferNotOpen, match="offer-0 is not the offer that stands"):
        offered_complaint().act(meta=META, action="reject", offer_id="offer-0")


@pytest.mark.parametrize("closing", ["OfferAccepted", "OfferRejected", "CounterProposalReceived"])
def test_act_on_an_offer_that_is_no_longer_open_is_refused(closing: str) -> None:
    complaint = offered_complaint()
    complaint.observe(meta=META, contract=upstream(closing))
    with pytest.raises(OfferNotOpen, match="no longer open"):
        complaint.act(meta=META, action="accept", offer_id=OFFER_ID, option_id="opt-refund")


def test_second_answer_to_the_same_offer_is_refused() -> None:
    complaint = offered_complaint()
    complaint.act(meta=META, action="accept", offer_id=OFFER_ID, option_id="opt-refund")
    with pytest.raises(OfferNotOpen, match="accepting"):
        complaint.act(meta=META, action="accept", offer_id=OFFER_ID, option_id="opt-voucher")


@pytest.mark.parametrize("option_id", ["opt-unknown", None])
def test_accepting_an_option_the_offer_never_had_is_refused(option_id: str | None) -> None:
    with pytest.raises(OfferNotOpen, match="is not part of offer"):
        offered_complaint().act(meta=META, action="accept", offer_id=OFFER_ID, option_id=option_id)


def test_withdrawn_complaint_takes_no_action_even_with_an_offer_open() -> None:
    complaint = offered_complaint()
    complaint.withdraw(meta=META, reason="settled in the shop")
    assert complaint.offer_status == "withdrawn"
    with pytest.raises(ComplaintClosedForActions, match="withdrawn"):
        complaint.act(meta=META, action="accept", offer_id=OFFER_ID, option_id="opt-refund")


def test_closed_complaint_takes_no_action() -> None:
    complaint = offered_complaint()
    complaint.observe(meta=META, contract=upstream("ComplaintClosed"))
    with pytest.raises(ComplaintClosedForActions, match="closed"):
        complaint.act(meta=META, action="reject", offer_id=OFFER_ID)


def test_refusals_are_intake_errors_and_record_nothing() -> None:
    assert issubclass(OfferNotOpen, IntakeError)
    assert issubclass(ComplaintClosedForActions, IntakeError)
    assert not issubclass(OfferNotOpen, ComplaintClosedForActions)
    complaint = offered_complaint()
    recorded(complaint)
    with pytest.raises(IntakeError):
        complaint.act(meta=META, action="accept", offer_id=OFFER_ID, option_id="nope")
    assert recorded(complaint) == []


def test_withdrawing_twice_is_refused_and_records_one_withdrawal() -> None:
    complaint = new_complaint()
    recorded(complaint)
    complaint.withdraw(meta=META, reason="changed my mind")
    with pytest.raises(ComplaintClosedForActions, match="already withdrawn"):
        complaint.withdraw(meta=META, reason="again")
    assert recorded(complaint) == ["ComplaintWithdrawn"]


def test_closed_complaint_cannot_be_withdrawn() -> None:
    complaint = new_complaint()
    complaint.observe(meta=META, contract=upstream("ComplaintClosed"))
    with pytest.raises(ComplaintClosedForActions, match="already closed"):
        complaint.withdraw(meta=META, reason="too late")


# --- intake: the status feed (STATUS_AFTER via observe) ----------------------------------


@pytest.mark.parametrize(("event_type", "status"), sorted(STATUS_AFTER.items()))
def test_observed_upstream_event_sets_the_status_brands_see(event_type: str, status: str) -> None:
    complaint = new_complaint()
    complaint.observe(meta=META, contract=upstream(event_type))
    assert complaint.status == status


def test_observed_events_fill_in_category_handler_offer_and_revisit_date() -> None:
    complaint = new_complaint()
    for event_type in ("ComplaintClassified", "HandlerAssigned", "RemedyOptionsOffered"):
        complaint.observe(meta=META, contract=upstream(event_type))
    complaint.observe(meta=META, contract=upstream("RevisitScheduled"))
    assert complaint.category == "product_quality"
    assert complaint.handler_id == "handler-li"
    assert complaint.offer == {"offer_id": OFFER_ID, "options": OPTIONS}
    assert complaint.revisit_due == "2026-03-06"


@pytest.mark.parametrize("event_type", ["SeverityAssessed", "ApologyIssued", "FollowupCaseOpened"])
def test_events_without_a_status_leave_it_unchanged(event_type: str) -> None:
    complaint = new_complaint()
    complaint.observe(meta=META, contract=upstream("HandlerAssigned"))
    complaint.observe(meta=META, contract=upstream(event_type))
    assert complaint.status == "assigned"


def test_withdrawn_status_is_not_overwritten_by_later_upstream_events() -> None:
    complaint = new_complaint()
    complaint.withdraw(meta=META, reason="changed my mind")
    complaint.observe(meta=META, contract=upstream("RemedyOptionsOffered"))
    assert complaint.status == "withdrawn"


def test_status_does_not_go_back_when_upstream_streams_arrive_out_of_order() -> None:
    complaint = new_complaint()
    complaint.observe(meta=META, contract=upstream("RemedyOptionsOffered"))
    complaint.observe(meta=META, contract=upstream("HandlerAssigned"))
    assert complaint.status == "offered"


# --- compensation: the offer that stands --------------------------------------------------


@pytest.fixture(autouse=True)
def processing_an_input() -> Any:
    """Compensation's events take their time from the input being processed."""
    with input_clock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC)):
        yield


def contract_dict(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A real, validated contract event as the case records it."""
    return make_contract(
        event_id=UUID(int=len(event_type)),
        event_type=event_type,
        complaint_id=COMPLAINT_ID,
        brand_id="acme",
        occurred_at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        trace_id="ab" * 16,
        causation_id=None,
        payload=payload,
    ).model_dump(mode="json")


RECEIVED = contract_dict(
    "ComplaintReceived",
    {
        "channel": "phone",
        "subject_ref": "subject-1",
        "product": {"category": "microwave"},
        "order": {"price_fen": 30_000, "sale_channel": "in_store"},
        "description": "加热不了",
        "demands": [{"kind": "refund"}],
        "media_reach": "none",
    },
)
ASSIGNED = contract_dict(
    "HandlerAssigned", {"team": "frontline", "handler_id": "handler-li", "authority_fen": 50_000}
)
WITHDRAWN = contract_dict("ComplaintWithdrawn", {"reason": "changed my mind"})


def new_case(*inputs: dict[str, Any]) -> CompensationCase:
    case = CompensationCase(id=COMPLAINT_ID, meta=META)
    for contract in inputs:
        case.record_input(meta=META, contract=contract)
    return case


def offered_case() -> CompensationCase:
    case = new_case(RECEIVED, ASSIGNED)
    case.apologise(meta=META, handler_id="handler-li", message="sorry")
    case.offer_remedies(meta=META, offer_id=OFFER_ID, options=OPTIONS)
    return case


def test_option_of_the_open_offer_is_returned_as_a_copy() -> None:
    case = offered_case()
    option = case.option(OFFER_ID, "opt-refund")
    assert option == OPTIONS[0]
    option["amount_fen"] = 1
    assert case.option(OFFER_ID, "opt-refund")["amount_fen"] == 30_000


def test_option_before_any_offer_is_not_standing() -> None:
    with pytest.raises(OfferNotStanding, match="never made"):
        new_case(RECEIVED, ASSIGNED).option(OFFER_ID, "opt-refund")


def test_option_of_another_offer_is_not_standing() -> None:
    with pytest.raises(OfferNotStanding, match="never made"):
        offered_case().option("offer-0", "opt-refund")


@pytest.mark.parametrize("option_id", ["opt-unknown", None])
def test_option_the_offer_never_had_is_not_standing(option_id: str | None) -> None:
    with pytest.raises(OfferNotStanding, match="not part of offer"):
        offered_case().option(OFFER_ID, option_id)


def test_option_of_an_accepted_offer_is_not_standing() -> None:
    case = offered_case()
    case.accept(
        meta=META, offer_id=OFFER_ID, option_id="opt-refund", kind="refund", amount_fen=30_000
    )
    with pytest.raises(OfferNotStanding, match="is accepted"):
        case.option(OFFER_ID, "opt-voucher")


def test_option_of_a_rejected_offer_is_not_standing() -> None:
    case = offered_case()
    case.reject(meta=META, offer_id=OFFER_ID, reason="too little")
    with pytest.raises(OfferNotStanding, match="is rejected"):
        case.option(OFFER_ID, "opt-refund")


def test_withdrawal_withdraws_the_open_offer() -> None:
    case = offered_case()
    case.record_input(meta=META, contract=WITHDRAWN)
    with pytest.raises(OfferNotStanding, match="is withdrawn"):
        case.option(OFFER_ID, "opt-refund")


# --- compensation: ready to apologise and offer -----------------------------------------


@pytest.mark.parametrize(
    "arrival",
    [(RECEIVED, ASSIGNED), (ASSIGNED, RECEIVED)],
    ids=["complaint-first", "handler-first"],
)
def test_ready_to_offer_needs_complaint_and_handler_in_either_order(
    arrival: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    first, second = arrival
    case = new_case(first)
    assert not case.ready_to_offer
    case.record_input(meta=META, contract=second)
    assert case.ready_to_offer
    assert case.received is not None
    assert case.received["order"]["price_fen"] == 30_000
    assert case.assignment is not None
    assert case.assignment["authority_fen"] == 50_000


def test_not_ready_to_offer_again_once_apologised() -> None:
    assert not offered_case().ready_to_offer


def test_withdrawn_complaint_is_not_ready_to_offer() -> None:
    assert not new_case(RECEIVED, WITHDRAWN, ASSIGNED).ready_to_offer
