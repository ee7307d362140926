"""The base of every contract payload: unknown fields are kept, not dropped."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """A contract payload (or a part of one); later minor versions may add fields old
    readers keep."""

    model_config = ConfigDict(extra="allow")


class EventPayload(Payload):
    """The payload of one published event type, which carries its own schema version.

    A version is "MAJOR.MINOR": a minor bump only adds optional fields (old readers keep
    them as unknown fields, new readers give old messages the default); anything else is
    a major bump, which consumers built for the previous major refuse to a dead letter.
    Each subclass declares `SCHEMA_VERSION` itself (tests/unit/test_contracts.py checks).
    """

    SCHEMA_VERSION: ClassVar[str]
