"""What intake publishes on INTAKE: stored event -> contract type, field by field.

Only these Complaint events leave intake; brands, keys, the vault, idempotency, groups,
sources, regulators, webhooks and the status feed (UpstreamObserved) are internal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.intake.domain import Complaint
from shared.contracts import intake as contract
from shared.publishing import Publication, copied, copied_or, publish, table

RECEIVED_FIELDS = (
    "channel",
    "subject_ref",
    "product",
    "order",
    "description",
    "demands",
    "attachments",
    "media_exposure",
    "injury",
    "regulator",
    "group_id",
    "nuisance",
)
_received_as_stored = copied_or(
    RECEIVED_FIELDS,
    received_by=None,  # 1.1
    media_reach=None,  # 1.1
    loss_fen=None,  # 2.0 (the stored event's v2; v1 is upcast on reading)
    fault_date=None,  # 2.0
)


def received_payload(stored: object) -> dict[str, Any]:
    """ComplaintReceived 2.0: media_reach is required (derived from media_exposure when the
    complaint did not say, flagged as assumed) and media_exposure follows from it."""
    payload = contract.upcast_complaint_received(_received_as_stored(stored))
    payload["media_exposure"] = payload["media_exposure"] or payload["media_reach"] != "none"
    return payload

PUBLICATIONS: Mapping[str, Publication] = table(
    "intake",
    [
        publish(
            Complaint,
            "ComplaintReceived",
            contract.ComplaintReceived,
            received_payload,
        ),
        publish(
            Complaint,
            "RegulatorTransferReceived",
            contract.RegulatorTransferReceived,
            copied(
                "regulator_id",
                "regulator_name",
                "transfer_number",
                "deadline_working_days",
                "deadline_at",
                "transferred_on",
                "deadline_provisional",
            ),
        ),
        publish(
            Complaint,
            "ComplaintDetailsConfirmed",
            contract.ComplaintDetailsConfirmed,
            copied("confirmed_via", "corrections"),
        ),
        publish(
            Complaint,
            "DuplicateLinked",
            contract.DuplicateLinked,
            copied("contact_id", "matched_fields", "channel"),
        ),
        publish(
            Complaint,
            "GroupComplaintLinked",
            contract.GroupComplaintLinked,
            copied("group_id", "group_key", "member_count"),
        ),
        publish(
            Complaint,
            "NuisanceFlagged",
            contract.NuisanceFlagged,
            copied("source_ref", "reason"),
        ),
        publish(
            Complaint,
            "ConsumerActed",
            contract.ConsumerActed,
            copied(
                "action",
                "offer_id",
                "option_id",
                "reason",
                "counter_kind",
                "counter_amount_fen",
            ),
        ),
        publish(
            Complaint,
            "ComplaintWithdrawn",
            contract.ComplaintWithdrawn,
            copied("reason"),
        ),
    ],
)
