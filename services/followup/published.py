"""What followup publishes on FOLLOWUP: stored event -> contract type, field by field.

Stored events not listed here (CaseOpened, InputRecorded) are internal.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.followup.domain import FollowupCase
from shared.contracts import followup as contract
from shared.publishing import Publication, copied, publish, table

PUBLICATIONS: Mapping[str, Publication] = table(
    "followup",
    [
        publish(
            FollowupCase,
            "FollowupCaseOpened",
            contract.FollowupCaseOpened,
            copied("acknowledge_by", "plan_by"),
        ),
        publish(
            FollowupCase,
            "RevisitScheduled",
            contract.RevisitScheduled,
            copied("revisit_id", "due_date", "channel", "calendar_covered", "offer_id"),
        ),
    ],
)
