"""Step 2 (判定/分类), pure: a received complaint judged and classified by a rules document.

The text (description and product category) is folded (NFKC, case-folded, simplified
script) like the rules' keywords, so a complaint classifies alike in either script.
The category is the strongest match: keywords matched (each counted once) × the
category's weight; a tie goes to the category listed first in the document; nothing
matched is `other`. Every 五度 dimension touched is listed: the dimensions of each
category matched (the chosen one's first), then those of the dimension cues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.routing.rules import (
    DIMENSION_NAMES,
    DIMENSIONS,
    FALLBACK_CATEGORY,
    CompiledRules,
    default_rules,
)
from shared.textfold import FoldedText

FALLBACK_DIMENSION = "reliability"


@dataclass(frozen=True)
class Classification:
    category: str
    dimension: str
    well_founded: bool
    reasons: list[str]
    dimensions: list[str] = field(default_factory=list)
    judgement: str = ""
    safety_signals: list[str] = field(default_factory=list)
    rules_version: str | None = None

    def as_event(self) -> dict[str, Any]:
        """The fields of `RoutingCase.classify`."""
        return {
            "category": self.category,
            "dimension": self.dimension,
            "well_founded": self.well_founded,
            "reasons": self.reasons,
            "dimensions": self.dimensions,
            "judgement": self.judgement,
            "safety_signals": self.safety_signals,
            "rules_version": self.rules_version,
        }


def complaint_text(received: dict[str, Any]) -> str:
    """What the rules read: what happened, and the product's category."""
    product = received.get("product") or {}
    return f"{received.get('description') or ''} {product.get('category') or ''}"


def classify(received: dict[str, Any], rules: CompiledRules | None = None) -> Classification:
    """Judge and classify one complaint by `rules` (the packaged default when None)."""
    rules = rules or default_rules()
    text = FoldedText.of(complaint_text(received))
    scored = []
    for order, rule in enumerate(rules.categories):
        hits = rule.words.found_in(text.folded)
        if hits:
            scored.append((-len(hits) * rule.weight, order, rule, hits))
    scored.sort(key=lambda s: (s[0], s[1]))
    reasons = [
        f"mentions {folded}" + ("" if rank == 0 else f" ({rule.category}, outscored)")
        for rank, (_, _, rule, hits) in enumerate(scored)
        for _, folded in hits
    ]
    touched: list[str] = [d for _, _, rule, _ in scored for d in rule.dimensions]
    for dimension, words in rules.cues:
        cue_hits = words.found_in(text.folded)
        if cue_hits:
            touched.append(dimension)
            name = f"{DIMENSION_NAMES[dimension]} {dimension}"
            reasons += [f"mentions {folded} ({name})" for _, folded in cue_hits]
    signals: list[str] = []
    for signal, words in rules.safety:
        for _, folded in words.found_in(text.folded):
            written = text.as_written(folded)
            reasons.append(f"mentions {folded} (safety: {signal})")
            if written not in signals:
                signals.append(written)
    if scored:
        category, dimension = scored[0][2].category, scored[0][2].dimensions[0]
    else:
        category, dimension = FALLBACK_CATEGORY, FALLBACK_DIMENSION
        reasons.insert(0, "no category keyword matched")
    well_founded, judgement = judge(rules, text.folded, category, scored, signals)
    return Classification(
        category=category,
        dimension=dimension,
        well_founded=well_founded,
        reasons=reasons,
        dimensions=_ordered(dimension, touched),
        judgement=judgement,
        safety_signals=signals,
        rules_version=rules.version,
    )


def judge(
    rules: CompiledRules,
    folded_text: str,
    category: str,
    scored: list[Any],
    signals: list[str],
) -> tuple[bool, str]:
    """Well-founded unless the consumer's own account places the cause outside the seller's
    remit (an unfounded cue); a safety signal is never dismissed on the text alone."""
    for reason, words in rules.unfounded:
        hits = [f for _, f in words.found_in(folded_text)]
        if not hits:
            continue
        said = ", ".join(hits)
        if signals:
            return True, (
                f"Well-founded: the text mentions {said}, but a safety signal "
                f"({', '.join(signals)}) is never judged unfounded on the text alone."
            )
        return False, (
            f"Unfounded on its face: {reason} (the text says {said}); "
            "a handler confirms and explains it to the consumer kindly."
        )
    if not scored:
        return True, (
            "Well-founded until a handler finds otherwise: no rule matched, "
            "and nothing in the text shows it unfounded."
        )
    shown = ", ".join(f for _, f in scored[0][3])
    return True, f"Well-founded: the complaint describes a {category} problem ({shown})."


def _ordered(primary: str, touched: list[str]) -> list[str]:
    """The primary dimension first, then every other one touched in SERVQUAL's order."""
    return [primary, *(d for d in DIMENSIONS if d in touched and d != primary)]
