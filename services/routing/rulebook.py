"""Routing's rules per brand: loading a rules document (a recorded command) and finding the
rules a complaint is classified by.

A new version never changes a past decision: each `ComplaintClassified` records the
`rules_version` it used, and a replay re-runs the loads in their recorded order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.routing.rules import (
    CompiledRules,
    RoutingRules,
    RulesDocument,
    compile_rules,
    default_document,
)
from shared.errors import Conflict
from shared.inputs import ReceivedCommand
from shared.store import derive_id
from shared.tuning import CachedCases


@dataclass(frozen=True)
class LoadRules:
    """Load (or replace) a brand's rules document."""

    brand_id: str
    document: RulesDocument
    at: datetime


@dataclass(frozen=True)
class BrandRules:
    """The rules a brand's complaints are classified by now, and where they come from."""

    brand_id: str
    source: str  # "brand": loaded for it; "default": the packaged document
    version: str
    digest: str
    document: dict[str, Any]


@lru_cache(maxsize=1024)
def rules_id(brand_id: str) -> UUID:
    return derive_id("routing-rules", brand_id)


class RulesBook(CachedCases):
    """Rules documents per brand, kept as `RoutingRules` aggregates."""

    def register_rules(self) -> None:
        self._rules_seen: dict[str, tuple[bytes, CompiledRules]] = {}  # brand -> (stored, rules)
        self.command("rules.load", self._on_load_rules)

    def load_rules(self, command: LoadRules) -> BrandRules:
        """Record the document for the brand; the same version again with other content is
        a conflict (a version names one document), the same document again changes nothing."""
        args = {"brand_id": command.brand_id, "document": command.document.canonical()}
        self.execute("rules.load", args, command.at)
        return self.brand_rules(command.brand_id)

    def _on_load_rules(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        brand_id, canonical = cmd.args["brand_id"], cmd.args["document"]
        document = RulesDocument.model_validate_json(canonical)
        digest, version = document.digest(), document.version
        rules: RoutingRules | None = self.get_or_none(rules_id(brand_id))
        if rules is None:
            rules = RoutingRules(
                id=rules_id(brand_id),
                brand_id=brand_id,
                document=canonical,
                digest=digest,
                rules_version=version,
            )
        elif rules.versions.get(version, digest) != digest:
            raise Conflict(
                f"rules version {version} of brand {brand_id} was loaded with other content: "
                "give the new document a new version"
            )
        elif rules.digest != digest:
            rules.load(document=canonical, digest=digest, rules_version=version)
        processing.collect_events(rules)

    def brand_rules(self, brand_id: str) -> BrandRules:
        rules: RoutingRules | None = self.get_or_none(rules_id(brand_id))
        if rules is None:
            default = default_document()
            return BrandRules(
                brand_id, "default", default.version, default.digest(), default.model_dump()
            )
        return BrandRules(brand_id, "brand", rules.rules_version, rules.digest, rules.parsed())

    def rules_for(self, brand_id: str) -> CompiledRules | None:
        """The compiled rules of the brand's document; None: the packaged default applies.

        Read on every complaint (another process may have loaded a version): one indexed
        SELECT of the brand's last rules event, which carries the whole document; decoded
        only when it is not the one this process saw last."""
        last = self.recorder.select_events(rules_id(brand_id), desc=True, limit=1)
        if not last:
            return None
        seen = self._rules_seen.get(brand_id)
        if seen is not None and seen[0] == last[0].state:  # the very bytes: even a rolled-
            return seen[1]  # back load that reused the version number is told apart
        loaded = self.mapper.to_domain_event(last[0])
        compiled = compile_rules(getattr(loaded, "document"))  # noqa: B009
        self._rules_seen[brand_id] = (last[0].state, compiled)
        return compiled
