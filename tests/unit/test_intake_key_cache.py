"""The API key cache: trusted for its TTL, dropped on revocation, never refilled by a stale read."""

from __future__ import annotations

from services.intake.key_cache import ApiKeyCache
from shared.security import generate_api_key, hash_api_key


def test_a_known_key_is_trusted_for_its_ttl_then_checked_again() -> None:
    now = [0.0]
    cache = ApiKeyCache(ttl=2.0, clock=lambda: now[0])
    api_key, key_id = generate_api_key()
    cache.remember(key_id, "haier", hash_api_key(api_key), cache.generation)
    assert cache.brand_of(key_id, api_key) == "haier"
    now[0] = 1.99
    assert cache.brand_of(key_id, api_key) == "haier"
    now[0] = 2.0
    assert cache.brand_of(key_id, api_key) is None


def test_a_wrong_secret_for_a_known_key_id_is_not_taken_from_the_cache() -> None:
    cache = ApiKeyCache(ttl=60.0)
    api_key, key_id = generate_api_key()
    cache.remember(key_id, "haier", hash_api_key(api_key), cache.generation)
    forged = api_key[:-1] + ("a" if api_key[-1] != "a" else "b")
    assert cache.brand_of(key_id, forged) is None


def test_a_store_read_that_raced_a_revocation_is_not_kept() -> None:
    cache = ApiKeyCache(ttl=60.0)
    api_key, key_id = generate_api_key()
    generation = cache.generation  # a request reads the store: the key is still active ...
    cache.forget(key_id)  # ... the revocation commits and drops the key meanwhile ...
    cache.remember(key_id, "haier", hash_api_key(api_key), generation)  # ... then it is late
    assert cache.brand_of(key_id, api_key) is None


def test_the_cache_holds_at_most_maxsize_keys() -> None:
    cache = ApiKeyCache(ttl=60.0, maxsize=2)
    keys = [generate_api_key() for _ in range(3)]
    for api_key, key_id in keys:
        cache.remember(key_id, "haier", hash_api_key(api_key), cache.generation)
    assert [cache.brand_of(k, a) for a, k in keys] == [None, "haier", "haier"]
