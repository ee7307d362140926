"""Routing policies: pure functions from a received complaint to category, severity, handler.

Simple first versions (keyword classification, a default roster); the routing issue
makes them per-brand versioned policy documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.routing import severity as severity_policy
from services.routing.severity import LARGE_AMOUNT_FEN, Severity

__all__ = ["LARGE_AMOUNT_FEN", "Severity"]

# Category → (keywords, SERVQUAL dimension it touches) [000 五度, 002 投诉分类].
CATEGORIES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "prepaid_card",
        ("预付", "会员卡", "充值", "储值", "prepaid", "membership card"),
        "reliability",
    ),
    ("repair_quality", ("维修", "修理", "修不好", "repair"), "assurance"),
    ("delivery", ("配送", "快递", "物流", "送货", "delivery", "parcel"), "responsiveness"),
    (
        "price_billing",
        ("价格", "多收", "收费", "扣费", "price", "overcharg", "billing"),
        "reliability",
    ),
    ("service_attitude", ("态度", "服务差", "辱骂", "rude", "attitude"), "empathy"),
    ("contract", ("合同", "条款", "contract"), "assurance"),
    (
        "product_quality",
        ("质量", "故障", "坏", "漏", "过敏", "不能用", "defect", "broken", "fault"),
        "reliability",
    ),
)


@dataclass(frozen=True)
class Classification:
    category: str
    dimension: str
    well_founded: bool
    reasons: list[str]


@dataclass(frozen=True)
class Team:
    name: str
    handlers: tuple[str, ...]
    authority_fen: int


# The default roster: a policy document until routing gets per-brand rosters.
DEFAULT_ROSTER: dict[str, Team] = {
    "normal": Team("frontline", ("handler-li", "handler-wang", "handler-zhang"), 50_000),
    "high": Team("senior", ("senior-chen", "senior-zhao"), 200_000),
    "critical": Team("crisis", ("crisis-lead-liu",), 2_000_000),
}


def classify(received: dict[str, Any]) -> Classification:
    """Step 2: the first category whose keywords appear in what happened."""
    text = f"{received.get('description', '')} {received.get('product', {}).get('category', '')}"
    lowered = text.lower()
    for category, keywords, dimension in CATEGORIES:
        hits = [k for k in keywords if k in lowered]
        if hits:
            return Classification(category, dimension, True, [f"mentions {h}" for h in hits])
    return Classification("other", "reliability", True, ["no category keyword matched"])


def assess(received: dict[str, Any], safety_signals: Sequence[str] = ()) -> Severity:
    """Step 3: injury or safety words, media reach, regulator transfer, groups and large
    amounts raise it, each factor listed (services/routing/severity.py)."""
    return severity_policy.assess(received, safety_signals)


def reassess_for_group(current: str, factors: list[str]) -> Severity | None:
    """Step 3 for a complaint that joined a group: at least high; None if nothing changes."""
    if "group complaint" in factors:
        return None
    level = current if current == "critical" else "high"
    return Severity(level, [*factors, "group complaint"])


def choose_handler(
    complaint_id: str, severity: Severity, roster: dict[str, Team] | None = None
) -> tuple[Team, str]:
    """Step 4: the team for the severity, and a handler spread by complaint id."""
    team = (roster or DEFAULT_ROSTER)[severity.level]
    digest = int(hashlib.sha256(complaint_id.encode()).hexdigest(), 16)
    return team, team.handlers[digest % len(team.handlers)]
