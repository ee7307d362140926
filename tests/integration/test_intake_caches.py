"""Intake's in-memory caches never outlive what the store says (SQLite and PostgreSQL).

API keys checked from memory: a revoked key is refused at once in the process that
revoked it, within the cache's TTL in another replica. Aggregates cached as the store had
them: another replica's events are seen, a rolled-back transaction leaves nothing behind.
Subject keys: one per subject however many requests or replicas seal at once (new keys are
group-committed); erasure still shreds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest

from services.intake.application import IntakeApplication
from services.intake.commands import Consumer, IssueApiKey, RegisterBrand, RevokeApiKey
from services.intake.domain import Brand
from services.intake.errors import ApiKeyRefused
from services.intake.key_cache import ApiKeyCache
from services.intake.main import SPEC as INTAKE
from services.intake.vault import PostgresKeyStore, SqliteKeyStore
from shared.inputs import input_clock
from shared.security import PiiError
from shared.service import open_application
from shared.settings import Settings
from tests.platform import admin_headers, register_brand

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def replicas(settings: Settings) -> Iterator[tuple[IntakeApplication, IntakeApplication]]:
    """Two intake applications on one store, as two processes would have."""
    first, second = open_application(INTAKE, settings), open_application(INTAKE, settings)
    assert isinstance(first, IntakeApplication)
    assert isinstance(second, IntakeApplication)
    yield first, second
    first.close()
    second.close()


def key_id(api_key: str) -> str:
    return api_key.split("_")[1]


async def test_a_revoked_key_is_refused_at_once_and_the_rotated_one_works(service: Any) -> None:
    intake = await service("intake")
    old = await register_brand(intake, "haier")
    app: IntakeApplication = intake.runtime.application
    assert (await intake.client.get("/v1/complaints", headers=old)).status_code == 200
    assert app.authenticate_cached(old["X-Api-Key"]) == "haier"  # now checked from memory
    rotated = await intake.client.post("/v1/admin/brands/haier/keys", headers=admin_headers(intake))
    new = {"X-Api-Key": rotated.json()["api_key"]}
    assert (await intake.client.get("/v1/complaints", headers=new)).status_code == 200

    path = f"/v1/admin/brands/haier/keys/{key_id(old['X-Api-Key'])}"
    assert (await intake.client.delete(path, headers=admin_headers(intake))).status_code == 204

    refused = await intake.client.get("/v1/complaints", headers=old)
    assert refused.status_code == 401, refused.text
    assert (await intake.client.get("/v1/complaints", headers=new)).status_code == 200
    assert app.authenticate_cached(new["X-Api-Key"]) == "haier"


def test_another_replica_refuses_a_revoked_key_once_its_ttl_has_passed(
    replicas: tuple[IntakeApplication, IntakeApplication],
) -> None:
    admin, replica = replicas
    now = [100.0]
    replica.api_keys = ApiKeyCache(ttl=1.0, clock=lambda: now[0])
    admin.register_brand(RegisterBrand("haier", "Haier", AT))
    api_key = admin.issue_api_key(IssueApiKey("haier", AT))
    assert replica.authenticate(api_key) == "haier"

    admin.revoke_api_key(RevokeApiKey("haier", key_id(api_key), "leaked", AT))
    with pytest.raises(ApiKeyRefused):
        admin.authenticate(api_key)
    now[0] += 0.5  # within the TTL the replica still trusts what it read
    assert replica.authenticate_cached(api_key) == "haier"
    now[0] += 0.5
    assert replica.authenticate_cached(api_key) is None
    with pytest.raises(ApiKeyRefused):
        replica.authenticate(api_key)


def test_a_cached_aggregate_sees_events_another_replica_recorded(
    replicas: tuple[IntakeApplication, IntakeApplication],
) -> None:
    first, second = replicas
    first.register_brand(RegisterBrand("haier", "Haier", AT))
    assert first.brand("haier").active_keys() == []  # cached in the first
    issued = second.issue_api_key(IssueApiKey("haier", AT))
    assert first.brand("haier").active_keys() == [key_id(issued)]
    first.issue_api_key(IssueApiKey("haier", AT))  # no conflict: its copy was up to date
    assert len(second.brand("haier").active_keys()) == 2


def test_a_rolled_back_transaction_leaves_no_phantom_in_the_aggregate_cache(
    replicas: tuple[IntakeApplication, IntakeApplication],
) -> None:
    app, _ = replicas
    app.register_brand(RegisterBrand("haier", "Haier", AT))
    before = app.brand("haier")
    recorder = app.recorder
    original = recorder._insert_events  # type: ignore[attr-defined]

    def insert_then_fail(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)  # the events are written in the transaction ...
        raise RuntimeError("the transaction fails after the insert")  # ... then rolled back

    with (
        mock.patch.object(recorder, "_insert_events", insert_then_fail),
        pytest.raises(RuntimeError),
    ):
        app.issue_api_key(IssueApiKey("haier", AT))

    after = app.brand("haier")
    assert (after.version, after.active_keys()) == (before.version, [])
    api_key = app.issue_api_key(IssueApiKey("haier", AT))  # the next write is not a conflict
    assert app.brand("haier").active_keys() == [key_id(api_key)]


def test_forget_cached_drops_a_state_read_through_a_transaction_later_rolled_back(
    replicas: tuple[IntakeApplication, IntakeApplication],
) -> None:
    app, _ = replicas
    app.register_brand(RegisterBrand("haier", "Haier", AT))
    brand = app.brand("haier")
    # What a `get` inside a group commit's transaction would cache before its rollback:
    phantom: Brand = app.brand("haier")
    with input_clock(AT):
        phantom.issue_key(key_id="0" * 16, key_hash="f" * 64, issued_at=AT.isoformat())
    assert app.repository.cache is not None
    app.repository.cache.put(brand.id, phantom)
    assert app.brand("haier").active_keys() == ["0" * 16]

    app.forget_cached([brand.id])
    assert app.brand("haier").active_keys() == []
    app.repository.cache.put(brand.id, phantom)
    app.forget_cached()  # everything
    assert app.brand("haier").active_keys() == []


def test_two_replicas_seal_a_new_subject_under_one_key_and_erasure_shreds_it(
    replicas: tuple[IntakeApplication, IntakeApplication],
) -> None:
    first, second = replicas
    consumer = Consumer(name="林女士", phone="13812345678")
    sealed = first.vault.seal("haier", consumer)
    again = second.vault.seal("haier", consumer)  # the key the first stored, not a new one
    subject = sealed.subject_id
    wrapped = second.keys.get(subject)
    assert wrapped is not None
    key = second.cipher.unwrap_key(wrapped)
    for sealed_by in (sealed, again):
        assert second.cipher.decrypt_field(key, sealed_by.fields["phone"], f"{subject}:phone") == (
            "13812345678"
        )
    assert second.keys.put_new(subject, first.cipher.wrap_key(os.urandom(32))) == wrapped

    assert first.keys.delete(subject)  # erasure (PIPL): the subject's key is destroyed
    assert second.keys.get(subject) is None
    later = second.vault.seal("haier", consumer)  # a later contact gets a new key ...
    new_key = second.cipher.unwrap_key(second.keys.get(subject) or b"")
    with pytest.raises(PiiError):  # ... which does not open what was sealed before
        second.cipher.decrypt_field(new_key, sealed.fields["name"], f"{subject}:name")
    assert second.cipher.decrypt_field(new_key, later.fields["name"], f"{subject}:name") == "林女士"


def test_one_group_commit_stores_the_first_key_of_a_subject_named_twice(
    replicas: tuple[IntakeApplication, IntakeApplication],
) -> None:
    first, second = replicas
    store = first.keys
    assert isinstance(store, SqliteKeyStore | PostgresKeyStore)
    one, other = first.cipher.wrap_key(os.urandom(32)), first.cipher.wrap_key(os.urandom(32))
    stored = store._write_new([("subject-a", one), ("subject-b", other), ("subject-a", other)])
    assert stored == [one, other, one]
    assert second.keys.put_new("subject-b", one) == other  # committed: the other replica sees it


def test_concurrent_seals_each_get_their_subjects_one_key(
    replicas: tuple[IntakeApplication, IntakeApplication],
) -> None:
    app, _ = replicas
    consumers = [Consumer(name=f"顾客{n}", phone=f"1391234{n % 8:04d}") for n in range(24)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        sealed = list(pool.map(lambda c: app.vault.seal("haier", c), consumers))
    for consumer, one in zip(consumers, sealed, strict=True):
        key = app.cipher.unwrap_key(app.keys.get(one.subject_id) or b"")
        opened = app.cipher.decrypt_field(key, one.fields["name"], f"{one.subject_id}:name")
        assert opened == consumer.name
    assert len({s.subject_id for s in sealed}) == 8
