"""Brands and their API keys: registration, issuing and revoking keys, authenticating callers.

A key's plaintext is shown once; only its hash is stored, indexed by key id.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.intake.base import IntakeBase
from services.intake.commands import IssueApiKey, RegisterBrand, RevokeApiKey
from services.intake.domain import ApiKeyIndex, Brand
from services.intake.errors import AlreadyRegistered, ApiKeyRefused, BrandNotRegistered
from shared.inputs import ReceivedCommand
from shared.security import generate_api_key, hash_api_key, parse_api_key, verify_api_key
from shared.store import derive_id


class BrandsAndKeys(IntakeBase):
    """Admin of brands and keys, and who an API key acts for."""

    def register_brands(self) -> None:
        self.command("brand.register", self._on_register_brand)
        self.command("brand.issue_key", self._on_issue_key)
        self.command("brand.revoke_key", self._on_revoke_key)

    def register_brand(self, command: RegisterBrand) -> Brand:
        args = {"brand_id": command.brand_id, "name": command.name}
        brand: Brand = self.execute("brand.register", args, command.at)
        return brand

    def _on_register_brand(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> Brand:
        brand_id = cmd.args["brand_id"]
        aggregate_id = derive_id("brand", brand_id)
        if self.get_or_none(aggregate_id) is not None:
            raise AlreadyRegistered(f"brand {brand_id} is already registered")
        brand = Brand(id=aggregate_id, brand_id=brand_id, name=cmd.args["name"])
        processing.collect_events(brand)
        return brand

    def brand(self, brand_id: str) -> Brand:
        brand: Brand | None = self.get_or_none(derive_id("brand", brand_id))
        if brand is None:
            raise BrandNotRegistered(f"brand {brand_id} is not registered")
        return brand

    def brands(self) -> list[Brand]:
        found: list[Brand] = []
        for notification in self.recorder.select_notifications(
            1, 1_000_000, topics=["intake.Brand.BrandRegistered"]
        ):
            brand_event = self.mapper.to_domain_event(notification)
            found.append(self.repository.get(brand_event.originator_id))
        return found

    def issue_api_key(self, command: IssueApiKey) -> str:
        """A new key for the brand; the plaintext is returned once and never stored.

        The key is drawn here, at the edge: the recorded command holds its id and hash only.
        """
        plaintext, key_id = generate_api_key()
        args = {"brand_id": command.brand_id, "key_id": key_id, "key_hash": hash_api_key(plaintext)}
        self.execute("brand.issue_key", args, command.issued_at)
        return plaintext

    def _on_issue_key(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        args = cmd.args
        brand = self.brand(args["brand_id"])
        issued_at = cmd.at.isoformat()
        brand.issue_key(key_id=args["key_id"], key_hash=args["key_hash"], issued_at=issued_at)
        index = ApiKeyIndex(
            id=derive_id("api-key", args["key_id"]),
            key_id=args["key_id"],
            brand_id=args["brand_id"],
            key_hash=args["key_hash"],
        )
        processing.collect_events(brand, index)

    def revoke_api_key(self, command: RevokeApiKey) -> None:
        """Revoke a key: refused at once in this process (see `ApiKeyCache` for replicas)."""
        args = {"brand_id": command.brand_id, "key_id": command.key_id, "reason": command.reason}
        try:
            self.execute("brand.revoke_key", args, command.at)
        finally:
            self.api_keys.forget(command.key_id)  # after the commit: no stale read survives

    def _on_revoke_key(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        brand_id, key_id = cmd.args["brand_id"], cmd.args["key_id"]
        brand = self.brand(brand_id)
        if key_id not in brand.keys:
            raise BrandNotRegistered(f"brand {brand_id} has no key {key_id}")
        index: ApiKeyIndex = self.repository.get(derive_id("api-key", key_id))
        brand.revoke_key(key_id=key_id, reason=cmd.args["reason"])
        index.revoke()
        processing.collect_events(brand, index)

    def authenticate(self, api_key: str) -> str:
        """The brand id an API key acts for; ApiKeyRefused for unknown or revoked keys.

        Reads the store, and remembers an active key for `authenticate_cached`.
        """
        key_id = parse_api_key(api_key)
        generation = self.api_keys.generation
        index: ApiKeyIndex | None = (
            self.get_or_none(derive_id("api-key", key_id)) if key_id else None
        )
        if index is None or index.revoked or not verify_api_key(api_key, index.key_hash):
            raise ApiKeyRefused("the API key is unknown or revoked")
        self.api_keys.remember(index.key_id, index.brand_id, index.key_hash, generation)
        return index.brand_id

    def authenticate_cached(self, api_key: str) -> str | None:
        """The brand of a key checked recently (no store read); None: call `authenticate`."""
        key_id = parse_api_key(api_key)
        return self.api_keys.brand_of(key_id, api_key) if key_id else None
