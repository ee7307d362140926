"""Versioned documents per brand, kept as recorded commands in a service's own store.

One mechanism for "a brand loads a new version of a document; decisions record the version
they used; a new version never alters a past decision": an aggregate per (kind, brand) whose
events carry the whole canonical document, a versions → digest map (the same version again
with other content is a 409, the same document again changes nothing), and a read of the
brand's last event with a per-process decode cache keyed by the stored bytes, so a load made
by another replica is seen on the next read and a rolled-back load that reused a version
number is told apart.

Routing keeps three older copies of this idea (`services/routing/rulebook.py`, `roster.py`,
`sla_policy.py`); they are not migrated here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate, event

from shared.errors import Conflict
from shared.inputs import InputClocked, ReceivedCommand
from shared.store import ServiceApplication, derive_id

T = TypeVar("T")


def canonical_json(document: Any) -> str:
    """The document as canonical JSON: what is stored and digested."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def digest_of(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()


def document_id(kind: str, brand_id: str) -> UUID:
    return derive_id("brand-document", kind, brand_id)


class BrandDocument(Aggregate):
    """One brand's document of one kind; every version loaded, with its digest."""

    TOPIC = "shared.BrandDocument"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "shared.BrandDocument.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "shared.BrandDocument.Created"

    @event("DocumentFirstLoaded", topic="shared.BrandDocument.DocumentFirstLoaded")
    def __init__(
        self, id: UUID, kind: str, brand_id: str, document: str, digest: str, doc_version: str
    ) -> None:
        self.kind = kind
        self.brand_id = brand_id
        self.versions: dict[str, str] = {}  # every version loaded -> its digest
        self._take(document, digest, doc_version)

    @event("DocumentLoaded", topic="shared.BrandDocument.DocumentLoaded")
    def load(self, document: str, digest: str, doc_version: str) -> None:
        """A new version: decisions made from now on use it; past ones keep theirs."""
        self._take(document, digest, doc_version)

    def _take(self, document: str, digest: str, doc_version: str) -> None:
        self.document = document
        self.digest = digest
        self.doc_version = doc_version  # not `version`: the aggregate's own
        self.versions[doc_version] = digest


@dataclass(frozen=True)
class Current(Generic[T]):
    """A brand's document in force: loaded for it ("brand") or the packaged one ("default")."""

    brand_id: str
    source: str
    version: str
    digest: str
    document: dict[str, Any]
    parsed: T


class BrandDocuments(Generic[T]):
    """One kind of per-brand document in `app`'s store.

    `parse` turns canonical JSON into the typed document (it must accept what `load` was
    given); `version_of` names its version; `default` is what a brand without one uses.
    """

    def __init__(
        self,
        app: ServiceApplication,
        kind: str,
        parse: Callable[[str], T],
        version_of: Callable[[T], str],
        default: Callable[[], T],
        dump: Callable[[T], Any],
    ) -> None:
        self.app = app
        self.kind = kind
        self.parse = parse
        self.version_of = version_of
        self.default = default
        self.dump = dump
        self._seen: dict[str, tuple[bytes, Current[T]]] = {}  # brand -> (stored bytes, doc)
        self._default: tuple[T, str, Any] | None = None  # (parsed, digest, dumped)
        self.command_name = f"{kind}.load"
        app.command(self.command_name, self._on_load)

    def load(self, brand_id: str, document: T, at: datetime) -> Current[T]:
        """Record `document` for the brand (a recorded command, replayed as such)."""
        args = {"brand_id": brand_id, "document": canonical_json(self.dump(document))}
        self.app.execute(self.command_name, args, at)
        return self.current(brand_id)

    def _on_load(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        brand_id, canonical = cmd.args["brand_id"], cmd.args["document"]
        version = self.version_of(self.parse(canonical))
        digest = digest_of(canonical)
        doc_id = document_id(self.kind, brand_id)
        held: BrandDocument | None = self.app.get_or_none(doc_id)
        if held is None:
            held = BrandDocument(
                id=doc_id,
                kind=self.kind,
                brand_id=brand_id,
                document=canonical,
                digest=digest,
                doc_version=version,
            )
        elif held.versions.get(version, digest) != digest:
            raise Conflict(
                f"{self.kind} version {version} of brand {brand_id} was loaded with other "
                "content: give the new document a new version"
            )
        elif held.digest != digest:
            held.load(document=canonical, digest=digest, doc_version=version)
        processing.collect_events(held)

    def current(self, brand_id: str) -> Current[T]:
        """The brand's document in force now.

        One indexed SELECT of the brand's last event, which carries the whole document;
        decoded only when its bytes differ from what this process saw last."""
        recorder: Any = self.app.recorder
        last = recorder.select_events(document_id(self.kind, brand_id), desc=True, limit=1)
        if not last:
            parsed = self.default()
            if self._default is None or self._default[0] is not parsed:
                dumped = self.dump(parsed)
                self._default = (parsed, digest_of(canonical_json(dumped)), dumped)
            _, digest, dumped = self._default
            return Current(brand_id, "default", self.version_of(parsed), digest, dumped, parsed)
        seen = self._seen.get(brand_id)
        if seen is not None and seen[0] == last[0].state:
            return seen[1]
        loaded = self.app.mapper.to_domain_event(last[0])
        canonical: str = getattr(loaded, "document")  # noqa: B009
        parsed = self.parse(canonical)
        current = Current(
            brand_id, "brand", self.version_of(parsed), digest_of(canonical),
            json.loads(canonical), parsed,
        )
        self._seen[brand_id] = (last[0].state, current)
        return current
