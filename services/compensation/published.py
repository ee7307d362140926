"""What compensation publishes on COMPENSATION: stored event -> contract type, field by field.

Stored events not listed here (CaseOpened, InputRecorded, ConsumerActionRefused) are internal.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.compensation.domain import CompensationCase
from shared.contracts import compensation as contract
from shared.publishing import Publication, copied, copied_or, publish, table

PUBLICATIONS: Mapping[str, Publication] = table(
    "compensation",
    [
        publish(
            CompensationCase,
            "ApologyIssued",
            contract.ApologyIssued,
            copied_or(("handler_id", "message"), channel=None, template_version=None),
        ),
        publish(
            CompensationCase,
            "RemedyOptionsOffered",
            contract.RemedyOptionsOffered,
            copied("offer_id", "options"),
        ),
        publish(
            CompensationCase,
            "OfferAccepted",
            contract.OfferAccepted,
            copied("offer_id", "option_id", "kind", "amount_fen"),
        ),
        publish(
            CompensationCase,
            "OfferRejected",
            contract.OfferRejected,
            copied("offer_id", "reason"),
        ),
        publish(
            CompensationCase,
            "CounterProposalReceived",
            contract.CounterProposalReceived,
            copied("offer_id", "kind", "amount_fen"),
        ),
    ],
)
