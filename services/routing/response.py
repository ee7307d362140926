"""The response mode (DOMAIN.md step 5, three modes [002]): pure, from recorded inputs.

*immediate*: the handler has the facts and the authority: answer now. *deferred*: it needs
investigation (quality or safety needing inspection, an amount above the handler's
authority, a critical case): tell the consumer when the answer comes (a plan within 72 h
[002 承诺书]) and call back on time even with no news (the next Shanghai working day [000]).
*transfer*: outside our remit, handed over with the file (an ops decision, `transfer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.calendar import WorkCalendar, business_date, end_of_business_day

PLAN_WITHIN = timedelta(hours=72)  # "complex cases: a full plan within 72 hours" [002 承诺书]
CALLBACK_WORKING_DAYS = 1  # "call back on time even with no news" [000]: next working day
# Categories whose facts need an inspection or appraisal before an answer [002, 003 花王].
NEEDS_INSPECTION: frozenset[str] = frozenset({"product_quality", "repair_quality", "food_safety"})


@dataclass(frozen=True)
class ResponseMode:
    mode: str
    reason: str
    answer_by: str | None = None
    callback_due: str | None = None
    receiving_party: str | None = None


def choose_mode(
    category: str | None,
    severity: str,
    authority_fen: int,
    amount_fen: int,
    at: datetime,
    calendar: WorkCalendar,
) -> ResponseMode:
    """Immediate when nothing needs investigating and the handler may decide; else deferred
    with the promised answer time and a callback due even when there is no news."""
    needs = []
    if severity == "critical":
        needs.append("critical severity")
    if category in NEEDS_INSPECTION:
        needs.append(f"{category} needs inspection")
    if amount_fen > authority_fen:
        needs.append(f"{amount_fen} fen at stake exceeds the handler's {authority_fen} fen")
    if not needs:
        return ResponseMode("immediate", "the handler has the facts and the authority")
    callback = calendar.add_working_days(business_date(at), CALLBACK_WORKING_DAYS)
    return ResponseMode(
        "deferred",
        "; ".join(needs),
        answer_by=(at + PLAN_WITHIN).isoformat(),
        callback_due=end_of_business_day(callback).isoformat(),
    )


def transfer(receiving_party: str, reason: str) -> ResponseMode:
    """Outside our remit: hand over to `receiving_party` with the file [002]."""
    return ResponseMode("transfer", reason, receiving_party=receiving_party)
