"""Unit tests for the publication tables: which stored events leave a service, and how.

Issue 15 point 7: a per-type mapping from stored event to published contract, so that
adding a field to a stored event does not silently change what is published. Stored
events a service does not declare in its `published.py` are internal and never leave it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import register_topic

from services.compensation.domain import CompensationCase
from services.compensation.published import PUBLICATIONS as COMPENSATION
from services.followup.domain import FollowupCase
from services.followup.published import PUBLICATIONS as FOLLOWUP
from services.intake.domain import Complaint
from services.intake.published import PUBLICATIONS as INTAKE
from services.routing.domain import RoutingCase
from services.routing.published import PUBLICATIONS as ROUTING
from shared.contracts import SERVICE_OF_TYPE, ContractEvent
from shared.contracts import compensation as compensation_contracts
from shared.contracts import followup as followup_contracts
from shared.inputs import input_clock
from shared.publishing import Publication, copied, publish, table
from shared.store import EventMeta, ServiceApplication

COMPLAINT_ID = UUID("c0ffee00-1234-4abc-8def-0123456789ab")
META = EventMeta("acme", "ab" * 16, "0b6f3c57-4f0e-5a43-9d0a-7d1b1f6f2c11")
TABLES: dict[str, Mapping[str, Publication]] = {
    "intake": INTAKE,
    "routing": ROUTING,
    "compensation": COMPENSATION,
    "followup": FOLLOWUP,
}
# Stored topic -> contract type: what each service publishes. Stored topics are stable
# names in the logs; changing one here without an old-topic registration breaks history.
EXPECTED = {
    "intake.Complaint.ComplaintReceived": "ComplaintReceived",
    "intake.Complaint.RegulatorTransferReceived": "RegulatorTransferReceived",
    "intake.Complaint.ComplaintDetailsConfirmed": "ComplaintDetailsConfirmed",
    "intake.Complaint.DuplicateLinked": "DuplicateLinked",
    "intake.Complaint.GroupComplaintLinked": "GroupComplaintLinked",
    "intake.Complaint.NuisanceFlagged": "NuisanceFlagged",
    "intake.Complaint.ConsumerActed": "ConsumerActed",
    "intake.Complaint.ComplaintWithdrawn": "ComplaintWithdrawn",
    "routing.RoutingCase.ComplaintClassified": "ComplaintClassified",
    "routing.RoutingCase.SeverityAssessed": "SeverityAssessed",
    "routing.RoutingCase.HandlerAssigned": "HandlerAssigned",
    "routing.RoutingCase.FirstContactOwned": "FirstContactOwned",
    "routing.RoutingCase.HandlerReassigned": "HandlerReassigned",
    "routing.RoutingCase.ResponseModeChosen": "ResponseModeChosen",
    "routing.RoutingCase.ConsumerCallbackPromised": "ConsumerCallbackPromised",
    "compensation.CompensationCase.ApologyIssued": "ApologyIssued",
    "compensation.CompensationCase.RemedyOptionsOffered": "RemedyOptionsOffered",
    "compensation.CompensationCase.OfferAccepted": "OfferAccepted",
    "compensation.CompensationCase.OfferRejected": "OfferRejected",
    "compensation.CompensationCase.CounterProposalReceived": "CounterProposalReceived",
    "compensation.CompensationCase.ApprovalRequested": "ApprovalRequested",
    "compensation.CompensationCase.ApprovalGranted": "ApprovalGranted",
    "compensation.CompensationCase.ApprovalDenied": "ApprovalDenied",
    "compensation.CompensationCase.LiabilityDetermined": "LiabilityDetermined",
    "compensation.CompensationCase.RemedyFulfilled": "RemedyFulfilled",
    "followup.FollowupCase.FollowupCaseOpened": "FollowupCaseOpened",
    "followup.FollowupCase.RevisitScheduled": "RevisitScheduled",
    **{
        f"routing.RoutingCase.{name}": name
        for name in (
            "SlaStarted",
            "SlaMet",
            "SlaPaused",
            "SlaResumed",
            "SlaDeadlineRevised",
            "SlaBreached",
            "Escalated",
        )
    },
}


def publisher(service: str) -> ServiceApplication:
    """A bare application of `service` (in-memory store) with that service's table."""

    class Publisher(ServiceApplication):
        publications: ClassVar[Mapping[str, Publication]] = TABLES[service]

    Publisher.service = service
    return Publisher(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def published(service: str, events: list[Any]) -> list[tuple[str, ContractEvent | None]]:
    app = publisher(service)
    return [(type(e).__name__, app.to_contract(e)) for e in events]


def types(pairs: list[tuple[str, ContractEvent | None]]) -> list[str | None]:
    return [None if contract is None else contract.type for _, contract in pairs]


# --- the tables ------------------------------------------------------------------------------



@pytest.fixture(autouse=True)
def processing_an_input() -> Iterator[None]:
    """Events take their time from the input being processed (shared.inputs)."""
    with input_clock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC)):
        yield

def test_the_tables_publish_exactly_the_expected_stored_topics_as_their_types() -> None:
    found = {topic: p.contract.name for t in TABLES.values() for topic, p in t.items()}
    assert found == EXPECTED


@pytest.mark.parametrize("service", sorted(TABLES))
def test_each_service_publishes_every_contract_type_it_owns_and_no_other(service: str) -> None:
    owned = {name for name, owner in SERVICE_OF_TYPE.items() if owner == service}
    assert {p.contract.name for p in TABLES[service].values()} == owned
    assert {p.contract.service for p in TABLES[service].values()} == {service}


def test_a_service_cannot_publish_a_type_another_service_owns() -> None:
    apology = publish(
        CompensationCase, "ApologyIssued", compensation_contracts.ApologyIssued, copied()
    )
    with pytest.raises(ValueError, match="routing cannot publish ApologyIssued: compensation"):
        table("routing", [apology])


def test_a_stored_topic_is_published_at_most_once() -> None:
    apology = publish(
        CompensationCase, "ApologyIssued", compensation_contracts.ApologyIssued, copied()
    )
    with pytest.raises(ValueError, match="published twice"):
        table("compensation", [apology, apology])


def test_a_publication_names_an_existing_stored_event_and_a_registered_contract() -> None:
    with pytest.raises(ValueError, match="FollowupCase has no event 'RevisitPlanned'"):
        publish(FollowupCase, "RevisitPlanned", followup_contracts.RevisitScheduled, copied())
    with pytest.raises(ValueError, match="RemedyOption is not a registered contract payload"):
        publish(
            CompensationCase,
            "RemedyOptionsOffered",
            compensation_contracts.RemedyOption,  # type: ignore[arg-type]
            copied(),
        )


# --- what each service publishes, and what it keeps ----------------------------------------


def received_complaint() -> Complaint:
    return Complaint(
        id=COMPLAINT_ID,
        meta=META,
        channel="phone",
        subject_ref="subject-1",
        product={"category": "microwave"},
        order={"price_fen": 30_000},
        description="加热不了",
        demands=[{"kind": "refund"}],
        attachments=[],
        media_exposure=False,
        injury=False,
        regulator=None,
        group_id=None,
        nuisance=False,
    )


def test_intake_publishes_the_complaint_facts_and_keeps_the_status_feed() -> None:
    complaint = received_complaint()
    complaint.flag_nuisance(meta=META, source_ref="source-1", reason="abusive")
    complaint.link_group(meta=META, group_id="g-1", group_key="merchant:x", member_count=3)
    complaint.confirm(meta=META, confirmed_via="phone", corrections={})
    complaint.link_duplicate(meta=META, contact_id="c-2", matched_fields=["order"], channel="app")
    offered = {"offer_id": "offer-1", "options": [{"option_id": "refund"}]}
    complaint.observe(meta=META, contract={"type": "RemedyOptionsOffered", "payload": offered})
    complaint.act(meta=META, action="accept", offer_id="offer-1", option_id="refund")
    pairs = published("intake", complaint.collect_events())
    assert types(pairs) == [
        "ComplaintReceived",
        "NuisanceFlagged",
        "GroupComplaintLinked",
        "ComplaintDetailsConfirmed",
        "DuplicateLinked",
        None,  # UpstreamObserved: intake's own record of the status feed
        "ConsumerActed",
    ]
    contract = pairs[0][1]
    assert contract is not None
    assert contract.payload == {
        "channel": "phone",
        "subject_ref": "subject-1",
        "product": {"category": "microwave", "model": None, "serial": None},
        "order": {
            "purchase_date": None,
            "price_fen": 30_000,
            "merchant": None,
            "order_ref": None,
            "sale_channel": "unknown",  # 2.0: not given
            "delivery_date": None,
            "declared_value_fen": None,
            "insured": False,
        },
        "description": "加热不了",
        "demands": [{"kind": "refund", "amount_fen": None}],
        "attachments": [],
        "media_exposure": False,
        "injury": False,
        "regulator": None,
        "group_id": None,
        "nuisance": False,
        "received_by": None,
        "media_reach": "none",  # 2.0: required, derived from media_exposure
        "loss_fen": None,
        "fault_date": None,
        "media_reach_assumed": False,
    }, "the envelope's originator_topic no longer leaks into the payload"


def test_routing_publishes_its_decisions_and_keeps_its_recorded_inputs() -> None:
    case = RoutingCase(id=COMPLAINT_ID, meta=META, received={"type": "ComplaintReceived"})
    case.classify(
        meta=META,
        category="product_quality",
        dimension="reliability",
        well_founded=True,
        reasons=["mentions 过敏"],
        dimensions=["reliability", "tangibles"],
        judgement="Well-founded: the complaint describes a product_quality problem (过敏).",
        safety_signals=["過敏"],
        rules_version="default-2026.1",
    )
    case.assess(meta=META, severity="high", factors=["injury"])
    case.assign(meta=META, team="quality", handler_id="h-1", authority_fen=50_000)
    case.record_input(meta=META, contract={"type": "ComplaintWithdrawn"})
    pairs = published("routing", case.collect_events())
    assert types(pairs) == [
        None,
        "ComplaintClassified",
        "SeverityAssessed",
        "HandlerAssigned",
        None,
    ]
    assert [name for name, contract in pairs if contract is None] == ["CaseOpened", "InputRecorded"]
    assigned = pairs[3][1]
    assert assigned is not None
    assert assigned.payload == {
        "team": "quality",
        "handler_id": "h-1",
        "authority_fen": 50_000,
        "reason": "",  # 1.1 fields, defaulted for events stored before them
        "from_owner": None,
        "roster_version": None,
    }
    classified = pairs[1][1]
    assert classified is not None
    assert classified.schema_version == "1.1"
    assert classified.payload["dimensions"] == ["reliability", "tangibles"]
    assert classified.payload["safety_signals"] == ["過敏"]
    assert classified.payload["rules_version"] == "default-2026.1"


def test_compensation_publishes_apology_offer_and_answers_but_not_refusals() -> None:
    case = CompensationCase(id=COMPLAINT_ID, meta=META)
    case.record_input(meta=META, contract={"type": "ComplaintReceived", "payload": {}})
    case.apologise(meta=META, handler_id="h-1", message="sorry")
    option = {"option_id": "refund", "kind": "refund", "amount_fen": 100, "description": "d"}
    case.offer_remedies(meta=META, offer_id="offer-1", options=[option])
    case.accept(meta=META, offer_id="offer-1", option_id="refund", kind="refund", amount_fen=100)
    case.refuse_action(meta=META, offer_id="offer-1", reason="offer-1 is accepted")
    pairs = published("compensation", case.collect_events())
    assert types(pairs) == [
        None,
        None,
        "ApologyIssued",
        "RemedyOptionsOffered",
        "OfferAccepted",
        None,
    ]
    offer = pairs[3][1]
    assert offer is not None
    # 1.1 fields (POLICY), defaulted for offers stored before them
    option_11 = {
        **option,
        "rule_id": None,
        "basis": None,
        "ground": None,
        "statutory": False,
        "policy_version": None,
        "explanation": None,
        "expires_on": None,
        "includes": [],
    }
    assert offer.payload == {
        "offer_id": "offer-1",
        "options": [option_11],
        "round": 1,
        "policy_version": None,
        "expires_on": None,
        "replaces_offer_id": None,
    }
    apology = pairs[2][1]
    assert apology is not None
    assert apology.schema_version == "1.1"
    assert apology.payload == {
        "handler_id": "h-1", "message": "sorry", "channel": None, "template_version": None
    }


def test_an_approval_publishes_the_options_waiting_but_not_the_planned_round() -> None:
    case = CompensationCase(id=COMPLAINT_ID, meta=META)
    option = {"option_id": "o-1", "kind": "refund", "amount_fen": 90_000, "description": "d"}
    plan = {"offer_id": "offer-1", "options": [option], "above": [option]}
    case.request_approval(
        meta=META,
        approval_id="a-1",
        offer_round=1,
        handler_id="h-1",
        authority_fen=50_000,
        options=[option],
        reason="above",
        plan=plan,
        requested_at="2026-03-02T02:00:00+00:00",
    )
    case.grant_approval(meta=META, approval_id="a-1", approved_by="s-1", reason="ok", options=[])
    pairs = published("compensation", case.collect_events())
    assert types(pairs) == [None, "ApprovalRequested", "ApprovalGranted"]
    requested = pairs[1][1]
    assert requested is not None
    assert "plan" not in requested.payload
    assert "requested_at" not in requested.payload
    assert requested.payload["options"] == [  # 1.1 option fields defaulted
        {**option, "rule_id": None, "basis": None, "ground": None, "statutory": False,
         "policy_version": None, "explanation": None, "expires_on": None, "includes": []}
    ]
    assert case.offer_status == "awaiting_approval"



def scheduled_case() -> FollowupCase:
    case = FollowupCase(id=COMPLAINT_ID, meta=META)
    case.open_followup(meta=META, acknowledge_by="2026-03-03T10:00:00+00:00", plan_by="p")
    case.schedule_revisit(
        meta=META,
        revisit_id="revisit-1",
        due_date="2026-03-09",
        channel="phone",
        calendar_covered=True,
        offer_id="offer-1",
        calendar_version="cal-v1",
    )
    return case


def test_followup_publishes_its_case_and_revisits_each_at_its_own_version() -> None:
    pairs = published("followup", scheduled_case().collect_events())
    assert types(pairs) == [None, "FollowupCaseOpened", "RevisitScheduled"]
    opened, revisit = pairs[1][1], pairs[2][1]
    assert opened is not None
    assert revisit is not None
    assert (opened.schema_version, revisit.schema_version) == ("1.0", "1.1")
    assert revisit.payload == {
        "revisit_id": "revisit-1",
        "due_date": "2026-03-09",
        "channel": "phone",
        "calendar_covered": True,
        "offer_id": "offer-1",
        "calendar_version": "cal-v1",
    }


# --- a field added to a stored event is not published by accident -----------------------------


def with_field(stored: Any, name: str, value: Any) -> Any:
    """The stored event as a later version of its class would record it: one more field."""
    extended = copy.copy(stored)
    object.__setattr__(extended, "__dict__", {**vars(stored), name: value})
    return extended


@pytest.mark.parametrize(
    ("service", "events", "index"),
    [
        ("intake", lambda: received_complaint().collect_events(), 0),
        ("followup", lambda: scheduled_case().collect_events(), 2),
    ],
    ids=["ComplaintReceived", "RevisitScheduled"],
)
def test_a_field_added_to_a_stored_event_is_not_published_until_its_table_says_so(
    service: str, events: Any, index: int
) -> None:
    app = publisher(service)
    stored = events()[index]
    before = app.to_contract(stored)
    after = app.to_contract(with_field(stored, "handler_notes", "consumer sounded upset"))
    assert before is not None
    assert after is not None
    assert after.payload == before.payload
    assert "handler_notes" not in after.payload
    assert after.schema_version == before.schema_version


def test_the_table_decides_which_stored_fields_are_published() -> None:
    stored = with_field(scheduled_case().collect_events()[2], "handler_notes", "upset")
    chosen = publish(
        FollowupCase,
        "RevisitScheduled",
        followup_contracts.RevisitScheduled,
        copied("revisit_id", "due_date", "channel", "calendar_covered", "handler_notes"),
    )
    assert chosen.payload(stored)["handler_notes"] == "upset"
    assert "offer_id" not in chosen.payload(stored), "only the named fields are copied"


# --- the outbox source -----------------------------------------------------------------------


def test_the_outbox_source_yields_only_declared_events_in_log_order() -> None:
    app = publisher("followup")
    app.save(scheduled_case())
    page = list(app.contracts_since(1, 10))
    assert [nid for nid, _ in page] == [1, 2, 3]
    assert [None if c is None else c.type for _, c in page] == [
        None,
        "FollowupCaseOpened",
        "RevisitScheduled",
    ]


def test_an_event_stored_under_a_renamed_topic_is_still_published() -> None:
    """Stored topics may be renamed with an old-topic registration; old rows still publish."""
    app = publisher("followup")
    revisit = scheduled_case().collect_events()[2]
    old_topic = "followup.Case.RevisitBooked"  # the name it had once
    register_topic(old_topic, type(revisit))
    row = app.mapper.to_stored_event(revisit)
    app.recorder.insert_events([StoredEvent(row.originator_id, 1, old_topic, row.state)])
    ((_, contract),) = list(app.contracts_since(1, 10))
    assert contract is not None
    assert contract.type == "RevisitScheduled"


def test_a_transfer_stored_at_v1_loads_with_no_calendar_version_and_publishes_the_same() -> None:
    """RegulatorTransferReceived v2 records the calendar version; v1 rows read it as None."""
    app = publisher("intake")
    complaint = received_complaint()
    complaint.record_transfer(
        meta=META,
        regulator_id="sh-xbw",
        regulator_name="上海市消保委",
        transfer_number="沪消保委-2026-0001",
        deadline_working_days=7,
        deadline_at="2026-03-11T15:59:59.999999+00:00",
        calendar_version="cal-v1",
        transferred_on=None,
        deadline_provisional=False,
    )
    transfer = complaint.collect_events()[1]
    row = app.mapper.to_stored_event(transfer)
    state = app.mapper.transcoder.decode(row.state)
    assert state["class_version"] == 3
    assert state["calendar_version"] == "cal-v1"
    del state["class_version"], state["calendar_version"]  # as the v1 code stored it
    del state["transferred_on"], state["deadline_provisional"]
    data = app.mapper.transcoder.encode(state)
    old = StoredEvent(row.originator_id, row.originator_version, row.topic, data)
    loaded = app.mapper.to_domain_event(old)
    assert loaded.calendar_version is None  # type: ignore[attr-defined]
    before, after = app.to_contract(transfer), app.to_contract(loaded)
    assert before is not None
    assert after is not None
    assert "calendar_version" not in before.payload, "an added stored field is not published"
    assert after.payload == before.payload


def test_a_transfer_stored_at_v2_loads_as_counted_from_its_receipt_and_not_provisional() -> None:
    """v3 records the regulator's transfer date and the provisional flag; a v2 row had
    neither: it counted from the day received (None) and flagged nothing."""
    app = publisher("intake")
    complaint = received_complaint()
    complaint.record_transfer(
        meta=META,
        regulator_id="sh-xbw",
        regulator_name="上海市消保委",
        transfer_number="沪消保委-2026-0002",
        deadline_working_days=10,
        deadline_at="2026-10-09T15:59:59.999999+00:00",
        calendar_version="cal-v2",
        transferred_on="2026-09-18",
        deadline_provisional=False,
    )
    transfer = complaint.collect_events()[1]
    row = app.mapper.to_stored_event(transfer)
    state = app.mapper.transcoder.decode(row.state)
    assert (state["transferred_on"], state["deadline_provisional"]) == ("2026-09-18", False)
    contract = app.to_contract(transfer)
    assert contract is not None
    assert contract.payload["transferred_on"] == "2026-09-18"
    state["class_version"] = 2
    del state["transferred_on"], state["deadline_provisional"]
    old = StoredEvent(
        row.originator_id, row.originator_version, row.topic, app.mapper.transcoder.encode(state)
    )
    loaded: Any = app.mapper.to_domain_event(old)
    assert (loaded.transferred_on, loaded.deadline_provisional) == (None, False)
    assert loaded.calendar_version == "cal-v2"
