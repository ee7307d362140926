"""Routing policies: pure functions from a received complaint to category, severity, handler.

Classification reads a per-brand versioned rules document (rules.py, classification.py);
the roster is still a default one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.routing import classification
from services.routing.classification import Classification
from services.routing.rules import CompiledRules

LARGE_AMOUNT_FEN = 500_000  # ¥5,000: "large amounts" raise severity [DOMAIN.md step 3]


@dataclass(frozen=True)
class Severity:
    level: str
    factors: list[str]


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


def classify(received: dict[str, Any], rules: CompiledRules | None = None) -> Classification:
    """Step 2: judged and classified by the brand's rules document (services/routing/rules.py)."""
    return classification.classify(received, rules)


def assess(received: dict[str, Any], safety_signals: Sequence[str] = ()) -> Severity:
    """Step 3: injury, media exposure, regulator transfer, groups and large amounts raise it.

    `safety_signals`: words of the text that make it a health or safety case (classification).
    """
    factors = []
    if received.get("injury"):
        factors.append("personal injury or safety")
    if safety_signals:  # the 花王 allergy case: crisis team the same night [003]
        factors.append(f"safety signal in the text: {', '.join(safety_signals)}")
    if received.get("media_exposure"):
        factors.append("media or social exposure")
    if received.get("regulator"):
        factors.append("regulator transfer")
    if received.get("group_id"):
        factors.append("group complaint")
    amounts = [d.get("amount_fen") or 0 for d in received.get("demands", [])]
    price = (received.get("order") or {}).get("price_fen") or 0
    if max([price, *amounts]) >= LARGE_AMOUNT_FEN:
        factors.append("large amount")
    if "personal injury or safety" in factors or safety_signals:
        return Severity("critical", factors)
    return Severity("high" if factors else "normal", factors)


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
