"""Keyword rules as versioned data per brand: categories, 五度 cues, safety signals, unfounded cues.

A rules document is validated here (pydantic) and kept per brand in a `RoutingRules`
aggregate, loaded by a recorded command; without one, the packaged default applies
(`data/rules_default.json`). Keywords are folded (`shared.textfold.fold`) like the
complaint text, so a rule written in either script matches both. A keyword of one
character is refused: 坏 or 漏 alone match 败坏了 or 漏发 (write 坏了, 漏水, 漏电).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.inputs import InputClocked
from shared.textfold import fold

Dimension = Literal["tangibles", "reliability", "responsiveness", "assurance", "empathy"]
# SERVQUAL's order, and the Chinese names of the 五度 [000].
DIMENSIONS: tuple[Dimension, ...] = (
    "tangibles",
    "reliability",
    "responsiveness",
    "assurance",
    "empathy",
)
DIMENSION_NAMES = {
    "tangibles": "有形度",
    "reliability": "信赖度",
    "responsiveness": "反应度",
    "assurance": "专业度",
    "empathy": "同理度",
}
FALLBACK_CATEGORY = "other"
DEFAULT_DOCUMENT = Path(__file__).parent / "data" / "rules_default.json"


# Two characters at least, spaces aside (spelled out: JSON Schema's \s is not Python's).
_SPACE = " \\t\\n\\r\\f\\v\\u3000"
PHRASE = re.compile(f"[^{_SPACE}][{_SPACE}]*[^{_SPACE}]")


def _phrase(keyword: str) -> str:
    if PHRASE.search(keyword) is None:
        raise ValueError(
            f"keyword {keyword!r} is a single character: it over-matches "
            "(坏 matches 败坏了, 漏 matches 漏发); write a phrase such as 坏了, 漏水, 漏电"
        )
    return keyword


Keyword = Annotated[
    str,
    Field(max_length=40, json_schema_extra={"minLength": 2, "pattern": PHRASE.pattern}),
    AfterValidator(_phrase),
]
Keywords = Annotated[list[Keyword], Field(min_length=1, max_length=200)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryRule(Rule):
    """A category, the words that show it, and the 五度 dimensions it touches (primary first)."""

    category: Name
    keywords: Keywords
    dimensions: Annotated[list[Dimension], Field(min_length=1, max_length=5)]
    weight: int = Field(default=1, ge=1, le=100, description="score = keywords matched × weight")


class DimensionCue(Rule):
    """Words showing a complaint touches a 五度 dimension, whatever its category."""

    dimension: Dimension
    keywords: Keywords


class SafetySignal(Rule):
    """Words in the text that make a complaint a health or safety case (severity critical)."""

    signal: Name
    keywords: Keywords


class UnfoundedCue(Rule):
    """Words by which the consumer's own account places the cause outside the seller's remit."""

    keywords: Keywords
    reason: Annotated[str, Field(min_length=1, max_length=300)]


class RulesDocument(Rule):
    """One brand's classification rules; `version` is recorded with every decision made."""

    version: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
    categories: Annotated[list[CategoryRule], Field(min_length=1, max_length=50)]
    dimension_cues: list[DimensionCue] = Field(default_factory=list, max_length=50)
    safety_signals: list[SafetySignal] = Field(default_factory=list, max_length=50)
    unfounded_cues: list[UnfoundedCue] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _categories_once(self) -> RulesDocument:
        names = [c.category for c in self.categories]
        if FALLBACK_CATEGORY in names:
            raise ValueError(f"{FALLBACK_CATEGORY!r} is what matches nothing: it takes no rule")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"categories named more than once: {', '.join(repeated)}")
        return self

    def canonical(self) -> str:
        """The document as canonical JSON: what is stored, digested and compiled."""
        return json.dumps(
            self.model_dump(mode="json"), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )

    def digest(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()


# --- compiled for matching ---------------------------------------------------------------


@dataclass(frozen=True)
class Words:
    """Keywords as written in the document, each with its folded form."""

    written: tuple[str, ...]
    folded: tuple[str, ...]

    @classmethod
    def of(cls, keywords: list[str]) -> Words:
        """Each folded form once (积分 and 積分 are one keyword, counted once)."""
        folded: dict[str, str] = {}
        for keyword in keywords:
            folded.setdefault(fold(keyword), keyword)
        return cls(tuple(folded.values()), tuple(folded))

    def found_in(self, folded_text: str) -> list[tuple[str, str]]:
        """(written, folded) of each keyword the folded text contains, in document order."""
        return [(w, f) for w, f in zip(self.written, self.folded, strict=True) if f in folded_text]


@dataclass(frozen=True)
class CompiledCategory:
    category: str
    words: Words
    dimensions: tuple[str, ...]
    weight: int


@dataclass(frozen=True)
class CompiledRules:
    version: str
    categories: tuple[CompiledCategory, ...]
    cues: tuple[tuple[str, Words], ...]
    safety: tuple[tuple[str, Words], ...]
    unfounded: tuple[tuple[str, Words], ...]


@lru_cache(maxsize=64)
def compile_rules(canonical: str) -> CompiledRules:
    """The matcher for one document (by its canonical JSON), cached per process."""
    document = RulesDocument.model_validate_json(canonical)
    return CompiledRules(
        version=document.version,
        categories=tuple(
            CompiledCategory(c.category, Words.of(c.keywords), tuple(c.dimensions), c.weight)
            for c in document.categories
        ),
        cues=tuple((c.dimension, Words.of(c.keywords)) for c in document.dimension_cues),
        safety=tuple((s.signal, Words.of(s.keywords)) for s in document.safety_signals),
        unfounded=tuple((u.reason, Words.of(u.keywords)) for u in document.unfounded_cues),
    )


@lru_cache(maxsize=1)
def default_document() -> RulesDocument:
    """The packaged default rules (`data/rules_default.json`)."""
    return RulesDocument.model_validate_json(DEFAULT_DOCUMENT.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def default_rules() -> CompiledRules:
    return compile_rules(default_document().canonical())


# --- one brand's rules, loaded by recorded commands ----------------------------------------


class RoutingRules(Aggregate):
    """The rules document a brand's complaints are classified by (id: routing-rules, brand)."""

    TOPIC = "routing.RoutingRules"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "routing.RoutingRules.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "routing.RoutingRules.Created"

    @event("RulesFirstLoaded", topic="routing.RoutingRules.RulesFirstLoaded")
    def __init__(
        self, id: UUID, brand_id: str, document: str, digest: str, rules_version: str
    ) -> None:
        """The brand's first rules document (canonical JSON), replacing the default."""
        self.brand_id = brand_id
        self.versions: dict[str, str] = {}  # every rules version loaded -> its digest
        self._take(document, digest, rules_version)

    @event("RulesLoaded", topic="routing.RoutingRules.RulesLoaded")
    def load(self, document: str, digest: str, rules_version: str) -> None:
        """A new version of the brand's rules: later complaints only are classified by it."""
        self._take(document, digest, rules_version)

    def _take(self, document: str, digest: str, rules_version: str) -> None:
        self.document = document
        self.digest = digest
        self.rules_version = rules_version  # not `version`: the aggregate's own
        self.versions[rules_version] = digest

    def compiled(self) -> CompiledRules:
        return compile_rules(self.document)

    def parsed(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.document)
        return parsed
