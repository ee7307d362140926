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
from services.routing import severity as severity_policy
from services.routing.classification import Classification
from services.routing.rules import CompiledRules
from services.routing.severity import LARGE_AMOUNT_FEN, Severity

__all__ = ["LARGE_AMOUNT_FEN", "Classification", "Severity"]


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
