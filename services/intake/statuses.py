"""A complaint's status as brands see it, from what the other services publish (pure).

Intake reads three streams (ROUTING, COMPENSATION, FOLLOWUP) on separate consumers: each
stream arrives in order, the order across them varies. So the status only moves forward
in lifecycle order, with two designed exceptions: a reopening, and the wait for a
supervisor's approval (主管批示), which an approval request enters from any status before
acceptance (a new round may need approval too) and which the next offer or a denial
leaves; a denial returns to the status the wait began from, moved on by whatever arrived
meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

# What each upstream event means for the complaint's status, as brands see it.
STATUS_AFTER = {
    "ComplaintClassified": "classified",
    "HandlerAssigned": "assigned",
    "ApprovalRequested": "awaiting_approval",
    "RemedyOptionsOffered": "offered",
    "OfferAccepted": "accepted",
    "OfferRejected": "negotiating",
    "CounterProposalReceived": "negotiating",
    "RemedyFulfilled": "fulfilled",
    "RevisitScheduled": "revisit_scheduled",
    "RevisitCompleted": "revisited",
    "ComplaintResolved": "resolved",
    "ComplaintReopened": "reopened",
    "ComplaintClosed": "closed",
}
AWAITING_APPROVAL = "awaiting_approval"
# Statuses in lifecycle order: a late upstream event never moves a complaint backwards.
STATUS_ORDER = (
    "received",
    "classified",
    "assigned",
    AWAITING_APPROVAL,
    "offered",
    "negotiating",
    "accepted",
    # The revisit is planned on acceptance and the remedy carried out after it: fulfilled
    # comes after revisit_scheduled, so a brand sees it (issue 20 plans the revisit after
    # the fulfilment; a RevisitScheduled arriving then keeps "fulfilled" until the revisit).
    "revisit_scheduled",
    "fulfilled",
    "revisited",
    "resolved",
    "closed",
)
# A complaint in one of these is no longer open: a new contact about it is a new case.
NOT_OPEN = frozenset({"withdrawn", "resolved", "closed"})
# An approval request is a wait only before the consumer accepted.
_BEFORE_ACCEPTANCE = frozenset(STATUS_ORDER[: STATUS_ORDER.index("accepted")]) | {"reopened"}


def next_status(current: str, event_type: str) -> str:
    """The status after an upstream event: forward only, except an explicit reopening."""
    proposed = STATUS_AFTER.get(event_type, current)
    if proposed == "reopened" or current == "reopened":
        return proposed
    if current not in STATUS_ORDER or proposed not in STATUS_ORDER:
        return proposed
    return max(current, proposed, key=STATUS_ORDER.index)


@dataclass(frozen=True)
class StatusStep:
    """The status after an event, and the one a denied approval returns to (None: none
    is awaited)."""

    status: str
    before_approval: str | None


def step(current: str, before_approval: str | None, event_type: str) -> StatusStep:
    """The status feed's step for one upstream event (see the module's docstring)."""
    if event_type == "ApprovalRequested":
        if current == AWAITING_APPROVAL or current not in _BEFORE_ACCEPTANCE:
            return StatusStep(current, before_approval)  # already waiting, or past it
        return StatusStep(AWAITING_APPROVAL, current)
    if before_approval is None:
        return StatusStep(next_status(current, event_type), None)
    if event_type == "ApprovalDenied":
        return StatusStep(before_approval, None)
    if _ends_the_wait(event_type):
        return StatusStep(next_status(current, event_type), None)
    # an event from before the wait, arriving late: the wait stays, its origin moves on
    return StatusStep(current, next_status(before_approval, event_type))


def _ends_the_wait(event_type: str) -> bool:
    """An event past the wait for approval: an offer, or anything later in the lifecycle."""
    proposed = STATUS_AFTER.get(event_type)
    if proposed is None:
        return False
    if proposed not in STATUS_ORDER:  # a reopening
        return True
    return STATUS_ORDER.index(proposed) > STATUS_ORDER.index(AWAITING_APPROVAL)
