"""FOLLOWUP stream contracts: revisits (回访)."""

from __future__ import annotations

from pydantic import BaseModel

from shared.contracts.base import Payload


class FollowupCaseOpened(Payload):
    """ "1+3" [003]: every complaint is followed until revisited; the promise clocks start.

    Acknowledge within 24 hours, a full plan for complex cases within 72 hours [002 承诺书].
    """

    acknowledge_by: str
    plan_by: str


class RevisitScheduled(Payload):
    """Step 10 (回访): a follow-up revisit is due on a Shanghai working day."""

    revisit_id: str
    due_date: str
    channel: str
    calendar_covered: bool
    calendar_version: str | None = None  # the working-day calendar the due date used


PAYLOADS: dict[str, type[BaseModel]] = {
    "FollowupCaseOpened": FollowupCaseOpened,
    "RevisitScheduled": RevisitScheduled,
}
