"""FOLLOWUP stream contracts: revisits (回访)."""

from __future__ import annotations

from typing import ClassVar

from shared.contracts.base import EventPayload


class FollowupCaseOpened(EventPayload):
    """ "1+3" [003]: every complaint is followed until revisited; the promise clocks start.

    Acknowledge within 24 hours, a full plan for complex cases within 72 hours [002 承诺书].
    """

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    acknowledge_by: str
    plan_by: str


class RevisitScheduled(EventPayload):
    """Step 10 (回访): a follow-up revisit is due on a Shanghai working day.

    1.1 added `offer_id`, the accepted offer the revisit checks on (None on revisits
    scheduled before followup recorded it).
    """

    SCHEMA_VERSION: ClassVar[str] = "1.1"

    revisit_id: str
    due_date: str
    channel: str
    calendar_covered: bool
    offer_id: str | None = None


PAYLOADS: dict[str, type[EventPayload]] = {
    "FollowupCaseOpened": FollowupCaseOpened,
    "RevisitScheduled": RevisitScheduled,
}
