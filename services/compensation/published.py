"""What compensation publishes on COMPENSATION: stored event -> contract type, field by field.

Stored events not listed here (CaseOpened, InputRecorded, ConsumerActionRefused, and the
repair history's events) are internal. ApprovalRequested's `plan` (the whole round waiting
for the decision) stays internal too.
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
            copied_or(
                ("offer_id", "options"),
                round=1,
                policy_version=None,
                expires_on=None,
                replaces_offer_id=None,
            ),
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
        # issue 19 (FLOW): approvals, findings, fulfilment
        publish(
            CompensationCase,
            "ApprovalRequested",
            contract.ApprovalRequested,
            copied(
                "approval_id", "offer_round", "handler_id", "authority_fen", "options", "reason"
            ),
        ),
        publish(
            CompensationCase,
            "ApprovalGranted",
            contract.ApprovalGranted,
            copied("approval_id", "approved_by", "reason", "options"),
        ),
        publish(
            CompensationCase,
            "ApprovalDenied",
            contract.ApprovalDenied,
            copied("approval_id", "denied_by", "reason"),
        ),
        publish(
            CompensationCase,
            "LiabilityDetermined",
            contract.LiabilityDetermined,
            copied("finding", "evidence", "determined_by"),
        ),
        publish(
            CompensationCase,
            "RemedyFulfilled",
            contract.RemedyFulfilled,
            copied(
                "fulfilment_id",
                "offer_id",
                "option_id",
                "kind",
                "amount_fen",
                "reference",
                "fulfilled_by",
                "notice",
            ),
        ),
    ],
)
