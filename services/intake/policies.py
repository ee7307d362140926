"""Intake's pure decisions: duplicate contacts, group complaints and nuisance sources.

Thresholds are data (`DuplicatePolicy`, `GroupPolicy`, `NuisancePolicy`); times come
in as arguments, so a replay over recorded inputs decides the same way.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.textfold import fold_key

# --- matching keys ----------------------------------------------------------------------


def normalise_key(value: str | None) -> str | None:
    """Folded (NFKC, case-folded, simplified script), without spaces or punctuation; None
    when nothing is left.

    So "苏宁 易购（上海）" and "苏宁易购(上海)" are the same merchant, and so are 海蘭雲天 and
    海兰云天 [DOMAIN.md: groups and duplicates follow the merchant in either script].
    """
    if not value:
        return None
    text = fold_key(value)
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PZC")
    return kept or None


@dataclass(frozen=True)
class MatchKeys:
    """What identifies the order or product a contact is about, normalised."""

    order_ref: str | None = None
    merchant: str | None = None
    model: str | None = None
    serial: str | None = None

    @classmethod
    def of(cls, order: dict[str, Any], product: dict[str, Any]) -> MatchKeys:
        return cls(
            order_ref=normalise_key(order.get("order_ref")),
            merchant=normalise_key(order.get("merchant")),
            model=normalise_key(product.get("model")),
            serial=normalise_key(product.get("serial")),
        )

    def as_dict(self) -> dict[str, str | None]:
        return {
            "order_ref": self.order_ref,
            "merchant": self.merchant,
            "model": self.model,
            "serial": self.serial,
        }


def matched_fields(new: MatchKeys, prior: MatchKeys) -> list[str] | None:
    """The fields showing two contacts of one consumer are about the same order, or None.

    The strongest identifier both sides carry decides: order reference, else merchant
    and serial number, else merchant and model. Different order references are
    different orders even when merchant and model agree.
    """
    if new.order_ref and prior.order_ref:
        return ["consumer.phone", "order.order_ref"] if new.order_ref == prior.order_ref else None
    if not new.merchant or new.merchant != prior.merchant:
        return None
    for name in ("serial", "model"):
        mine, theirs = getattr(new, name), getattr(prior, name)
        if mine and theirs:
            return (
                ["consumer.phone", "order.merchant", f"product.{name}"] if mine == theirs else None
            )
    return None


# --- duplicates -------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicatePolicy:
    """Same consumer, same order, earlier complaint still open, within the window."""

    window: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class PriorCase:
    """A complaint the same consumer raised earlier, as the duplicate check sees it."""

    complaint_id: str
    keys: MatchKeys
    received_at: datetime
    open: bool


@dataclass(frozen=True)
class DuplicateMatch:
    complaint_id: str
    matched_fields: list[str]


def find_duplicate(
    keys: MatchKeys, priors: list[PriorCase], received_at: datetime, policy: DuplicatePolicy
) -> DuplicateMatch | None:
    """The most recent open complaint this contact repeats, with the fields that matched."""
    since = received_at - policy.window
    for prior in sorted(priors, key=lambda p: p.received_at, reverse=True):
        if not prior.open or prior.received_at < since:
            continue
        fields = matched_fields(keys, prior.keys)
        if fields:
            return DuplicateMatch(prior.complaint_id, fields)
    return None


# --- nuisance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NuisancePolicy:
    """More than `max_contacts` contacts from one source within `window` is nuisance [001]."""

    max_contacts: int = 5
    window: timedelta = timedelta(hours=24)


def nuisance_reason(
    earlier_contacts: list[datetime],
    received_at: datetime,
    flagged_by_ops: bool,
    policy: NuisancePolicy,
) -> str | None:
    """Why this contact is nuisance (harassment), or None when it is an ordinary one."""
    if flagged_by_ops:
        return "source flagged as nuisance by operations"
    since = received_at - policy.window
    count = 1 + sum(1 for at in earlier_contacts if since < at <= received_at)
    if count > policy.max_contacts:
        hours = int(policy.window.total_seconds() // 3600)
        return f"{count} contacts within {hours} h (more than {policy.max_contacts})"
    return None


# --- group complaints -------------------------------------------------------------------


@dataclass(frozen=True)
class GroupPolicy:
    """`min_consumers` distinct consumers against one merchant, same category, in `window`.

    The seed cases: 29 consumers against one prepaid-card bath house, 78 against one
    fruit-voucher company [003].
    """

    min_consumers: int = 3
    window: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class MerchantCase:
    """A complaint against a merchant, as the group check sees it."""

    complaint_id: str
    subject_ref: str
    received_at: datetime


def group_key(order: dict[str, Any], product: dict[str, Any]) -> str | None:
    """The normalised merchant and product category a group gathers on; None without one."""
    merchant = normalise_key(order.get("merchant"))
    category = normalise_key(product.get("category"))
    if merchant is None or category is None:
        return None
    return f"{merchant}|{category}"


def cases_to_group(
    cases: list[MerchantCase],
    new: MerchantCase,
    group_exists: bool,
    policy: GroupPolicy,
) -> list[MerchantCase]:
    """The complaints to link to the merchant's group now (empty: no group yet).

    An existing group takes the new complaint; otherwise, once the distinct consumers
    within the window reach the threshold, every complaint in the window forms it.
    """
    if group_exists:
        return [new]
    since = new.received_at - policy.window
    recent = [c for c in cases if c.received_at >= since] + [new]
    consumers = {c.subject_ref for c in recent}
    return recent if len(consumers) >= policy.min_consumers else []
