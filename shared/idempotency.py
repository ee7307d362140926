"""Idempotent creating POSTs: the first response to an `Idempotency-Key`, replayed on retries.

A service saves an `IdempotencyRecord` in the same transaction as the command's effects;
a retry with the same key and body gets the recorded response, with another body a 409.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from shared.errors import Conflict
from shared.inputs import InputClocked
from shared.store import ServiceApplication, derive_id

Response = tuple[int, dict[str, Any]]


class IdempotencyKeyReused(Conflict):
    """The key was used before with a different body."""


@dataclass(frozen=True)
class IdempotentRequest:
    """A creating request under an Idempotency-Key: whose (scope), the key, its body's hash."""

    scope: str
    key: str
    body_hash: str

    @classmethod
    def of(cls, scope: str, key: str | None, body: bytes) -> IdempotentRequest | None:
        """The request's idempotency, or None when it carries no key."""
        return cls(scope, key, hashlib.sha256(body).hexdigest()) if key else None

    @property
    def record_id(self) -> UUID:
        return derive_id("idempotency", self.scope, self.key)


class IdempotencyRecord(Aggregate):
    """The first response to a creating POST with an `Idempotency-Key`, kept for retries."""

    # The topics it was first stored under (by intake); each service has its own store.
    TOPIC = "intake.IdempotencyRecord"

    class Event(InputClocked, Aggregate.Event):
        TOPIC = "intake.IdempotencyRecord.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "intake.IdempotencyRecord.Created"

    @event("IdempotentRequestRecorded", topic="intake.IdempotencyRecord.IdempotentRequestRecorded")
    def __init__(
        self,
        id: UUID,
        scope: str,
        key: str,
        body_hash: str,
        status_code: int,
        response: dict[str, Any],
    ) -> None:
        self.scope = scope
        self.key = key
        self.body_hash = body_hash
        self.status_code = status_code
        self.response = response


def recorded_response(
    app: ServiceApplication, request: IdempotentRequest | None
) -> Response | None:
    """The response recorded for this key, or None; IdempotencyKeyReused for another body."""
    if request is None:
        return None
    record: IdempotencyRecord | None = app.get_or_none(request.record_id)
    if record is None:
        return None
    if record.body_hash != request.body_hash:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with a different body", idempotency_key=request.key
        )
    return record.status_code, record.response


def record_response(request: IdempotentRequest | None, response: Response) -> list[Aggregate]:
    """The record to save with the command's effects (none without a key)."""
    if request is None:
        return []
    status_code, body = response
    record = IdempotencyRecord(
        id=request.record_id,
        scope=request.scope,
        key=request.key,
        body_hash=request.body_hash,
        status_code=status_code,
        response=body,
    )
    return [record]
