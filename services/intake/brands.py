"""Brands and their API keys: registration, issuing and revoking keys, authenticating callers.

A key's plaintext is shown once; only its hash is stored, indexed by key id.
"""

from __future__ import annotations

from services.intake.base import IntakeBase
from services.intake.commands import IssueApiKey, RegisterBrand, RevokeApiKey
from services.intake.domain import ApiKeyIndex, Brand
from services.intake.errors import AlreadyRegistered, ApiKeyRefused, BrandNotRegistered
from shared.security import generate_api_key, hash_api_key, parse_api_key, verify_api_key
from shared.store import derive_id


class BrandsAndKeys(IntakeBase):
    """Admin of brands and keys, and who an API key acts for."""

    def register_brand(self, command: RegisterBrand) -> Brand:
        def run() -> Brand:
            aggregate_id = derive_id("brand", command.brand_id)
            if self.get_or_none(aggregate_id) is not None:
                raise AlreadyRegistered(f"brand {command.brand_id} is already registered")
            brand = Brand(id=aggregate_id, brand_id=command.brand_id, name=command.name)
            self.save(brand)
            return brand

        return self.run_command(run)

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
        """A new key for the brand; the plaintext is returned once and never stored."""
        plaintext, key_id = generate_api_key()

        def run() -> None:
            brand = self.brand(command.brand_id)
            key_hash = hash_api_key(plaintext)
            issued_at = command.issued_at.isoformat()
            brand.issue_key(key_id=key_id, key_hash=key_hash, issued_at=issued_at)
            index = ApiKeyIndex(
                id=derive_id("api-key", key_id),
                key_id=key_id,
                brand_id=command.brand_id,
                key_hash=key_hash,
            )
            self.save(brand, index)

        self.run_command(run)
        return plaintext

    def revoke_api_key(self, command: RevokeApiKey) -> None:
        def run() -> None:
            brand = self.brand(command.brand_id)
            if command.key_id not in brand.keys:
                raise BrandNotRegistered(f"brand {command.brand_id} has no key {command.key_id}")
            index: ApiKeyIndex = self.repository.get(derive_id("api-key", command.key_id))
            brand.revoke_key(key_id=command.key_id, reason=command.reason)
            index.revoke()
            self.save(brand, index)

        self.run_command(run)

    def authenticate(self, api_key: str) -> str:
        """The brand id an API key acts for; ApiKeyRefused for unknown or revoked keys."""
        key_id = parse_api_key(api_key)
        index: ApiKeyIndex | None = (
            self.get_or_none(derive_id("api-key", key_id)) if key_id else None
        )
        if index is None or index.revoked or not verify_api_key(api_key, index.key_hash):
            raise ApiKeyRefused("the API key is unknown or revoked")
        return index.brand_id
