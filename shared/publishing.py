"""What a service publishes: an explicit table from stored event to contract event.

Only the stored events a service declares here leave it; every other stored event is
internal. Each declaration names the stored event class, the contract payload model
(which carries the type's schema version) and a function building the payload from the
stored event, so a field added to a stored event is published only when its declaration
says so. Each service keeps its table in `services/<name>/published.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from shared.contracts import CONTRACT_TYPES, ContractType
from shared.contracts.base import EventPayload

PayloadBuilder = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class Publication:
    """A stored event (by its stable topic) published as one contract type."""

    stored_topic: str
    contract: ContractType
    build: PayloadBuilder

    @property
    def schema_version(self) -> str:
        return self.contract.version

    def payload(self, stored: object) -> dict[str, Any]:
        """The contract payload of `stored`, as JSON-ready values."""
        built: dict[str, Any] = jsonable(self.build(stored))
        return built


def publish(
    aggregate: type[object], stored: str, contract: type[EventPayload], build: PayloadBuilder
) -> Publication:
    """Declare that `aggregate`'s stored events named `stored` are published as `contract`."""
    event_class = getattr(aggregate, stored, None)
    if not isinstance(event_class, type):
        raise ValueError(f"{aggregate.__name__} has no event {stored!r}")
    matching = [t for t in CONTRACT_TYPES.values() if t.payload is contract]
    if len(matching) != 1:
        raise ValueError(f"{contract.__name__} is not a registered contract payload")
    return Publication(get_topic(event_class), matching[0], build)


def copied(*names: str) -> PayloadBuilder:
    """A payload builder copying the named attributes of the stored event, and only those."""

    def build(stored: object) -> dict[str, Any]:
        return {name: getattr(stored, name) for name in names}

    return build


def copied_or(names: Iterable[str], **defaults: Any) -> PayloadBuilder:
    """Like `copied`, and each of `defaults` (fields added in a minor version) taken from the
    stored event when it has it, else its default (events stored before the field existed)."""
    fields = tuple(names)

    def build(stored: object) -> dict[str, Any]:
        payload = {name: getattr(stored, name) for name in fields}
        payload.update({name: getattr(stored, name, d) for name, d in defaults.items()})
        return payload

    return build


def table(service: str, publications: Iterable[Publication]) -> Mapping[str, Publication]:
    """A service's publications by stored topic: only its own types, each topic once."""
    found: dict[str, Publication] = {}
    for publication in publications:
        if publication.contract.service != service:
            raise ValueError(
                f"{service} cannot publish {publication.contract.name}: "
                f"{publication.contract.service} owns it"
            )
        if publication.stored_topic in found:
            raise ValueError(f"{publication.stored_topic} is published twice")
        found[publication.stored_topic] = publication
    return MappingProxyType(found)


def jsonable(value: Any) -> Any:
    """Stored values as JSON-ready ones (ids as strings, tuples as lists)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    return value
