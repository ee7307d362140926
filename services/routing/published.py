"""What routing publishes on ROUTING: stored event -> contract type, field by field.

Stored events not listed here (CaseOpened, InputRecorded) are internal.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.routing.domain import RoutingCase
from shared.contracts import routing as contract
from shared.publishing import Publication, copied, publish, table

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
            copied("team", "handler_id", "authority_fen"),
        ),
    ],
)
