"""Severity, each factor listed (DOMAIN.md step 3): pure functions over recorded inputs.

Raised for personal injury or safety (the injury flag, or safety words found in the text),
media/social exposure graded by its reach (a phone video spreads fast [004]), a regulator
transfer [002, 003], group complaints (29 or 78 consumers against one merchant [003]),
repeat complaints (intake's `DuplicateLinked`, each contact counted) and large amounts.
Thresholds are data below. Severity never lowers by itself: a reassessment keeps the
level reached and every factor listed before (`raised`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LARGE_AMOUNT_FEN = 500_000  # ¥5,000: "large amounts" raise severity [DOMAIN.md step 3]
RANK: dict[str, int] = {"normal": 0, "high": 1, "critical": 2}
# How far media exposure reaches -> the level it alone raises severity to [004].
MEDIA_REACH: dict[str, str | None] = {
    "none": None,
    "private": "high",  # a post among friends
    "local": "high",  # a local paper or city account
    "regional": "critical",  # a provincial outlet
    "national": "critical",  # national media: the crisis team [003 花王, handled that night]
}
# Consumers in the group (at least) -> level; a group forms at 3 (intake). 29 and 78 [003].
GROUP_SIZE_LEVELS: tuple[tuple[int, str], ...] = ((20, "critical"), (0, "high"))
# Repeat contacts about the same open complaint (at least) -> level.
REPEAT_LEVELS: tuple[tuple[int, str], ...] = ((3, "critical"), (1, "high"))

INJURY = "personal injury or safety"
MEDIA = "media or social exposure"
REGULATOR = "regulator transfer"
GROUP = "group complaint"
REPEAT = "repeat complaint"
LARGE = "large amount"


@dataclass(frozen=True)
class Severity:
    level: str
    factors: list[str]


def _by_threshold(value: int, levels: tuple[tuple[int, str], ...]) -> str:
    return next(level for minimum, level in levels if value >= minimum)


def assess(
    received: dict[str, Any],
    safety_signals: Sequence[str] = (),
    repeats: int = 0,
    group_size: int | None = None,
) -> Severity:
    """Step 3: the level and every factor that raised it, in a fixed order."""
    factors: list[tuple[str, str]] = []  # (factor, the level it raises to)
    if received.get("injury") or safety_signals:
        words = "、".join(dict.fromkeys(safety_signals))
        factors.append((f"{INJURY}: {words}" if words else INJURY, "critical"))
    reach = received.get("media_reach")
    if received.get("media_reach_assumed"):  # a 1.x complaint's reach, derived: not known
        reach = None
    if reach and reach != "none":
        factors.append((f"{MEDIA} ({reach} reach)", MEDIA_REACH.get(reach) or "high"))
    elif received.get("media_exposure") and reach is None:
        factors.append((MEDIA, "high"))
    if received.get("regulator"):
        factors.append((REGULATOR, "high"))
    if group_size is not None:
        group_level = _by_threshold(group_size, GROUP_SIZE_LEVELS)
        factors.append((f"{GROUP} ({group_size} consumers)", group_level))
    elif received.get("group_id"):
        factors.append((GROUP, "high"))
    if repeats > 0:
        repeat_level = _by_threshold(repeats, REPEAT_LEVELS)
        factors.append((f"{REPEAT} ({repeats} repeat contacts)", repeat_level))
    amounts = [d.get("amount_fen") or 0 for d in received.get("demands") or []]
    price = (received.get("order") or {}).get("price_fen") or 0
    if max([price, *amounts]) >= LARGE_AMOUNT_FEN:
        factors.append((LARGE, "high"))
    level = max((lvl for _, lvl in factors), key=RANK.__getitem__, default="normal")
    return Severity(level, [factor for factor, _ in factors])


def group_level(size: int) -> str:
    """The level a group of `size` consumers raises severity to."""
    return _by_threshold(size, GROUP_SIZE_LEVELS)


def kind_of(factor: str) -> str:
    """The kind of a factor ("group complaint (29 consumers)" -> "group complaint")."""
    return factor.split(" (")[0].split(":")[0]


def raised(current: str, factors: Sequence[str], new: Severity) -> Severity | None:
    """The reassessment of a case at `current` with `factors` given a new assessment: the
    higher level, the factors listed before with those of the same kind updated; None when
    nothing changes. Severity never lowers by itself [DOMAIN.md step 3]."""
    fresh = {kind_of(f): f for f in new.factors}
    merged = [fresh.pop(kind_of(f), f) for f in factors]
    merged.extend(fresh.values())
    level = max(current, new.level, key=RANK.__getitem__)
    if level == current and merged == list(factors):
        return None
    return Severity(level, merged)


def rose(before: str | None, after: str) -> bool:
    return RANK[after] > RANK.get(before or "normal", 0)


def repeats_in(inputs: Sequence[dict[str, Any]]) -> int:
    """Repeat contacts recorded for the case: each `DuplicateLinked` input counts."""
    return sum(1 for contract in inputs if contract.get("type") == "DuplicateLinked")


def group_size_in(inputs: Sequence[dict[str, Any]]) -> int | None:
    """The latest member count of the case's group (None: never linked to a group)."""
    sizes = [
        int(c["payload"]["member_count"])
        for c in inputs
        if c.get("type") == "GroupComplaintLinked"
    ]
    return max(sizes) if sizes else None
