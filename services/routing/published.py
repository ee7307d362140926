"""What routing publishes on ROUTING: stored event -> contract type, field by field.

Stored events not listed here (CaseOpened, InputRecorded, SlaStopped) are internal.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.routing.domain import RoutingCase
from shared.contracts import routing as contract
from shared.publishing import Publication, copied, copied_or, publish, table

SLA_PUBLICATIONS = [
    publish(
        RoutingCase,
        "SlaStarted",
        contract.SlaStarted,
        copied(
            "clause",
            "starts_at",
            "due_at",
            "provisional",
            "calendar_version",
            "policy_version",
            "reason",
        ),
    ),
    publish(RoutingCase, "SlaMet", contract.SlaMet, copied("clause", "at", "by_event")),
    publish(RoutingCase, "SlaPaused", contract.SlaPaused, copied("reason", "clauses")),
    publish(
        RoutingCase, "SlaResumed", contract.SlaResumed, copied("reason", "clauses", "due_at")
    ),
    publish(
        RoutingCase,
        "SlaDeadlineRevised",
        contract.SlaDeadlineRevised,
        copied("clause", "previous_due_at", "due_at", "calendar_version", "provisional"),
    ),
    publish(RoutingCase, "SlaBreached", contract.SlaBreached, copied("clause", "due_at")),
    publish(
        RoutingCase,
        "Escalated",
        contract.Escalated,
        copied_or(("level", "to_team", "to_handler", "reason", "clause", "by"), authority_fen=None),
    ),
]

PUBLICATIONS: Mapping[str, Publication] = table(
    "routing",
    [
        publish(
            RoutingCase,
            "ComplaintClassified",
            contract.ComplaintClassified,
            copied(
                "category",
                "dimension",
                "well_founded",
                "reasons",
                "dimensions",
                "judgement",
                "safety_signals",
                "rules_version",
            ),
        ),
        publish(
            RoutingCase,
            "SeverityAssessed",
            contract.SeverityAssessed,
            copied("severity", "factors"),
        ),
        publish(
            RoutingCase,
            "HandlerAssigned",
            contract.HandlerAssigned,
            copied_or(
                ("team", "handler_id", "authority_fen"),
                reason="",  # 1.1
                from_owner=None,  # 1.1
                roster_version=None,  # 1.1
            ),
        ),
        publish(
            RoutingCase,
            "FirstContactOwned",
            contract.FirstContactOwned,
            copied("desk", "channel"),
        ),
        publish(
            RoutingCase,
            "HandlerReassigned",
            contract.HandlerReassigned,
            copied(
                "from_team",
                "from_handler",
                "to_team",
                "to_handler",
                "kind",
                "change",
                "reason",
                "by",
                "authority_fen",
                "contact_at",
                "place",
            ),
        ),
        publish(
            RoutingCase,
            "ResponseModeChosen",
            contract.ResponseModeChosen,
            copied("mode", "reason", "answer_by", "callback_due", "receiving_party"),
        ),
        publish(
            RoutingCase,
            "ConsumerCallbackPromised",
            contract.ConsumerCallbackPromised,
            copied("callback_at", "reason", "by"),
        ),
        *SLA_PUBLICATIONS,
    ],
)
