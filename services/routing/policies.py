"""Routing policies: pure functions from a received complaint to category, severity, handler.

Classification reads the brand's versioned rules document (rules.py, classification.py),
severity its factors (severity.py); the named handler comes from the brand's roster
(roster.py, ownership.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.routing import classification
from services.routing import severity as severity_policy
from services.routing.classification import Classification
from services.routing.rules import CompiledRules
from services.routing.severity import LARGE_AMOUNT_FEN, Severity

__all__ = ["LARGE_AMOUNT_FEN", "Classification", "Severity"]


def classify(received: dict[str, Any], rules: CompiledRules | None = None) -> Classification:
    """Step 2: judged and classified by the brand's rules document (services/routing/rules.py)."""
    return classification.classify(received, rules)


def assess(received: dict[str, Any], safety_signals: Sequence[str] = ()) -> Severity:
    """Step 3: injury or safety words, media reach, regulator transfer, groups and large
    amounts raise it, each factor listed (services/routing/severity.py)."""
    return severity_policy.assess(received, safety_signals)
