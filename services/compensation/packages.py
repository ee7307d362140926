"""The consumer chooses ONE option: the engine's proposals bundled into whole remedies.

The policy engine (`offers.propose`) lists what is owed and offered kind by kind: the
alternatives (refund, exchange, repair, 重作), what is owed on top of whichever is chosen
(statutory damages, the loss, a written apology), and the brand's goodwill. The consumer
accepts one option of an offer, so an option must be a whole remedy: choosing the refund
must not cost the consumer the 消法 第五十五条 damages the law adds to it.

Bundling (pure, deterministic):
- one option per alternative, each carrying everything owed on top and the brand's gesture
  (the catalogue's first goodwill item that is not shipping, plus the shipping costs with a
  remedy that moves goods: refund, exchange, repair);
- no alternative but something owed (a lost parcel, a loss): one option of what is owed,
  with the gesture;
- nothing owed at all: each goodwill item is an option of its own (a gesture to choose);
- the consumer's counter-proposal (the engine's last proposal, rule `counter_*`) is one
  more option: an alternative of its own kind with the parts owed on top, or what is owed
  on top with the counter in place of the part of its kind — so a supervisor who denies
  the counter denies that option alone.

An option's `amount_fen` is the value of all its parts (what the brand pays out, in money
or kind: the handler's authority is measured against it); `includes` lists the parts after
the first, each with its rule. Statutory when any part is; needing approval when any is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.compensation.offers import ALTERNATIVES, ON_TOP, Proposal
from services.compensation.offers import GOODWILL as GESTURES

MOVES_GOODS = ("refund", "exchange", "repair")
GESTURE_LEAD = "为表歉意，另赠"  # how the engine words a gesture (entitlements.goodwill_offers)
COUNTER_RULES = ("counter_",)


@dataclass(frozen=True)
class Package:
    """One option as offered: its first part names it, the others come with it."""

    parts: tuple[Proposal, ...]

    @property
    def head(self) -> Proposal:
        return self.parts[0]

    @property
    def amount_fen(self) -> int:
        return sum(part.amount_fen for part in self.parts)

    @property
    def statutory(self) -> bool:
        return any(part.statutory for part in self.parts)

    @property
    def needs_approval_reason(self) -> str | None:
        reasons = [p.needs_approval_reason for p in self.parts if p.needs_approval_reason]
        return "; ".join(reasons) if reasons else None

    @property
    def explanation(self) -> str:
        """The parts' lines, the gestures said once (为表歉意，另赠代金券¥20.00、运费¥50.00。)."""
        gestures = [
            part
            for part in self.parts[1:]
            if part.kind in GESTURES and part.explanation.startswith(GESTURE_LEAD)
        ]
        lines = [p.explanation for p in self.parts if p not in gestures]
        if gestures:
            named = "、".join(
                p.explanation.removeprefix(GESTURE_LEAD).removesuffix("。") for p in gestures
            )
            lines.append(f"{GESTURE_LEAD}{named}。")
        return "".join(lines)

    def includes(self) -> list[dict[str, Any]]:
        """The parts after the first, as recorded on the option."""
        return [
            {
                "kind": part.kind,
                "amount_fen": part.amount_fen,
                "rule_id": part.rule_id,
                "basis": part.basis,
                "ground": part.ground,
                "statutory": part.statutory,
                "explanation": part.explanation,
            }
            for part in self.parts[1:]
        ]


def bundle(proposals: list[Proposal]) -> list[Package]:
    """The options of a round, in the engine's order (see the module's rules)."""
    counters = [p for p in proposals if p.rule_id.startswith(COUNTER_RULES)]
    base = [p for p in proposals if not p.rule_id.startswith(COUNTER_RULES)]
    alternatives = [p for p in base if p.kind in ALTERNATIVES]
    owed = [p for p in base if p.kind in ON_TOP]
    goodwill = [p for p in base if p.kind not in ALTERNATIVES and p.kind not in ON_TOP]
    packages: list[Package] = []
    if alternatives:
        packages = [Package((a, *owed, *_gestures(goodwill, a.kind))) for a in alternatives]
    elif owed:
        packages = [Package((*owed, *_gestures(goodwill, None)))]
    else:
        packages = [Package((g,)) for g in goodwill]
    for counter in counters:
        packages.append(_countered(counter, alternatives, owed, goodwill))
    return packages


def _gestures(goodwill: list[Proposal], head_kind: str | None) -> list[Proposal]:
    """The brand's gesture with a remedy: its first goodwill item, and the shipping costs
    when the remedy moves goods."""
    gift = [g for g in goodwill if g.kind != "shipping"][:1]
    shipping = [g for g in goodwill if g.kind == "shipping" and head_kind in MOVES_GOODS][:1]
    return gift + shipping


def _countered(
    counter: Proposal,
    alternatives: list[Proposal],
    owed: list[Proposal],
    goodwill: list[Proposal],
) -> Package:
    if counter.kind in ALTERNATIVES or not (alternatives or owed):
        return Package((counter, *owed, *_gestures(goodwill, counter.kind)))
    others = [p for p in owed if p.kind != counter.kind]
    head = alternatives[0] if alternatives else None
    parts = (head, counter, *others) if head is not None else (counter, *others)
    return Package((*parts, *_gestures(goodwill, head.kind if head else None)))
