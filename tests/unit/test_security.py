"""Unit tests for shared.security: API keys, HMAC signatures, ops tokens, PII crypto."""

import base64
import hashlib
import hmac
import json

import pytest

from shared.security import (
    NONCE_HEADER,
    REGULATOR_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    OpsClaims,
    PiiCipher,
    PiiError,
    SecurityError,
    SignatureError,
    TokenError,
    blind_index,
    canonical_request,
    generate_api_key,
    hash_api_key,
    issue_ops_token,
    mask_name,
    mask_phone,
    mint_ops_token,
    parse_api_key,
    parse_timestamp_header,
    sign_request,
    sign_webhook,
    verify_api_key,
    verify_ops_token,
    verify_request,
    verify_webhook,
)

NOW = 1_790_000_000
REGULATOR_SECRET = b"regulator-shared-secret-0123456789"
OPS_KEY = b"ops-token-signing-key-0123456789abcdef"
NONCE = "n0nce-4f9a2c71"
BODY = b'{"transfer_id":"T-1"}'
PATH = "/v1/regulator/transfers?source=12315"


# --------------------------------------------------------------------------- API keys


def test_generated_api_key_has_prefix_key_id_and_secret() -> None:
    key, key_id = generate_api_key()
    prefix, middle, secret = key.split("_")
    assert (prefix, middle) == ("ask", key_id)
    assert len(key_id) == 16
    assert len(secret) == 40


def test_generated_api_keys_are_unique() -> None:
    assert len({generate_api_key()[0] for _ in range(50)}) == 50


def test_parse_api_key_returns_its_key_id() -> None:
    key, key_id = generate_api_key()
    assert parse_api_key(key) == key_id


def test_custom_prefix_is_parsed_only_with_that_prefix() -> None:
    key, key_id = generate_api_key(prefix="test")
    assert parse_api_key(key, prefix="test") == key_id
    assert parse_api_key(key) is None


@pytest.mark.parametrize(
    "key",
    ["", "ask", "ask_0123456789abcdef", "Bearer ask_x_y", "ask_0123456789abcdef_short"],
)
def test_malformed_api_key_has_no_key_id(key: str) -> None:
    assert parse_api_key(key) is None


def test_invalid_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        generate_api_key(prefix="a_b")


def test_api_key_verifies_against_its_hash_only() -> None:
    key, _ = generate_api_key()
    other, _ = generate_api_key()
    stored = hash_api_key(key)
    assert len(stored) == 64
    assert key not in stored
    assert verify_api_key(key, stored)
    assert not verify_api_key(other, stored)


# --------------------------------------------------------------------------- regulator signatures


def _signed(timestamp: int = NOW, body: bytes = BODY) -> str:
    return sign_request(REGULATOR_SECRET, "POST", PATH, timestamp, NONCE, body)


def test_header_names_are_the_documented_ones() -> None:
    assert (REGULATOR_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER) == (
        "X-Aftersales-Regulator",
        "X-Aftersales-Timestamp",
        "X-Aftersales-Nonce",
        "X-Aftersales-Signature",
    )


def test_canonical_request_joins_method_path_timestamp_nonce_and_body_hash() -> None:
    canonical = canonical_request("post", PATH, NOW, NONCE, b"")
    empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert canonical == f"POST\n{PATH}\n{NOW}\n{NONCE}\n{empty_sha256}"


def test_signature_is_hex_hmac_sha256_of_the_canonical_request() -> None:
    canonical = canonical_request("POST", PATH, NOW, NONCE, BODY).encode()
    expected = hmac.new(REGULATOR_SECRET, canonical, hashlib.sha256).hexdigest()
    assert _signed() == expected


def test_correctly_signed_request_is_accepted() -> None:
    verify_request(REGULATOR_SECRET, "POST", PATH, NOW, NONCE, BODY, _signed(), now=NOW + 299)


def test_stale_timestamp_is_rejected() -> None:
    with pytest.raises(SignatureError) as caught:
        verify_request(REGULATOR_SECRET, "POST", PATH, NOW, NONCE, BODY, _signed(), now=NOW + 301)
    assert caught.value.reason == "stale timestamp"


def test_timestamp_from_the_future_beyond_skew_is_rejected() -> None:
    with pytest.raises(SignatureError) as caught:
        verify_request(REGULATOR_SECRET, "POST", PATH, NOW, NONCE, BODY, _signed(), now=NOW - 301)
    assert caught.value.reason == "stale timestamp"


@pytest.mark.parametrize(
    ("method", "path", "nonce", "body"),
    [
        ("PUT", PATH, NONCE, BODY),
        ("POST", "/v1/regulator/transfers?source=other", NONCE, BODY),
        ("POST", PATH, "another-nonce", BODY),
        ("POST", PATH, NONCE, b'{"transfer_id":"T-2"}'),
    ],
)
def test_tampered_request_has_bad_signature(
    method: str, path: str, nonce: str, body: bytes
) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_request(REGULATOR_SECRET, method, path, NOW, nonce, body, _signed(), now=NOW)
    assert caught.value.reason == "bad signature"


def test_signature_with_wrong_secret_is_rejected() -> None:
    with pytest.raises(SignatureError) as caught:
        verify_request(b"wrong", "POST", PATH, NOW, NONCE, BODY, _signed(), now=NOW)
    assert caught.value.reason == "bad signature"


def test_bad_signature_is_reported_before_staleness() -> None:
    forged = "0" * 64
    with pytest.raises(SignatureError) as caught:
        verify_request(REGULATOR_SECRET, "POST", PATH, NOW, NONCE, BODY, forged, now=NOW + 10_000)
    assert caught.value.reason == "bad signature"


@pytest.mark.parametrize(
    ("nonce", "signature"),
    [
        (NONCE, "not-hex"),
        (NONCE, "A" * 64),  # uppercase hex is not what we issue
        ("", "0" * 64),
        ("short", "0" * 64),
        ("has\nnewline", "0" * 64),
    ],
)
def test_malformed_signature_or_nonce_is_rejected(nonce: str, signature: str) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_request(REGULATOR_SECRET, "POST", PATH, NOW, nonce, BODY, signature, now=NOW)
    assert caught.value.reason == "malformed"


def test_timestamp_header_parses_unix_seconds() -> None:
    assert parse_timestamp_header(str(NOW)) == NOW


@pytest.mark.parametrize("value", ["", "-5", "12.5", "1e9", " 1790000000", "１２３"])
def test_malformed_timestamp_header_is_rejected(value: str) -> None:
    with pytest.raises(SignatureError) as caught:
        parse_timestamp_header(value)
    assert caught.value.reason == "malformed"


def test_signature_error_is_a_security_error() -> None:
    assert issubclass(SignatureError, SecurityError)
    assert issubclass(TokenError, SecurityError)
    assert issubclass(PiiError, SecurityError)


# --------------------------------------------------------------------------- webhooks


WEBHOOK_SECRET = b"whsec-brand-42"


def test_webhook_header_has_timestamp_and_v1_signature() -> None:
    header = sign_webhook(WEBHOOK_SECRET, NOW, BODY)
    timestamp, signature = header.split(",")
    assert timestamp == f"t={NOW}"
    assert signature.startswith("v1=")
    assert len(signature) == 3 + 64


def test_webhook_signature_verifies_within_tolerance() -> None:
    header = sign_webhook(WEBHOOK_SECRET, NOW, BODY)
    assert verify_webhook(WEBHOOK_SECRET, header, BODY, now=NOW + 300)


def test_old_webhook_is_rejected() -> None:
    header = sign_webhook(WEBHOOK_SECRET, NOW, BODY)
    assert not verify_webhook(WEBHOOK_SECRET, header, BODY, now=NOW + 301)


def test_webhook_with_altered_body_or_secret_is_rejected() -> None:
    header = sign_webhook(WEBHOOK_SECRET, NOW, BODY)
    assert not verify_webhook(WEBHOOK_SECRET, header, BODY + b" ", now=NOW)
    assert not verify_webhook(b"other", header, BODY, now=NOW)


def test_webhook_timestamp_cannot_be_swapped() -> None:
    signature = sign_webhook(WEBHOOK_SECRET, NOW, BODY).split(",")[1]
    assert not verify_webhook(WEBHOOK_SECRET, f"t={NOW + 60},{signature}", BODY, now=NOW + 60)


def test_webhook_signed_with_rotated_secrets_verifies_with_either() -> None:
    old = sign_webhook(b"old-secret", NOW, BODY).split(",")[1]
    header = f"{sign_webhook(WEBHOOK_SECRET, NOW, BODY)},{old}"
    assert verify_webhook(WEBHOOK_SECRET, header, BODY, now=NOW)
    assert verify_webhook(b"old-secret", header, BODY, now=NOW)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=abc,v1=00", f"t={NOW},t={NOW},v1=00"])
def test_malformed_webhook_header_is_rejected(header: str) -> None:
    assert not verify_webhook(WEBHOOK_SECRET, header, BODY, now=NOW)


# --------------------------------------------------------------------------- ops tokens


def _claims(**overrides: object) -> OpsClaims:
    fields: dict[str, object] = {
        "iss": "aftersales",
        "aud": "aftersales-ops",
        "sub": "user-7",
        "roles": ("handler",),
        "brands": ("brand-a", "brand-b"),
        "authority_fen": 50_000,
        "iat": NOW - 60,
        "exp": NOW + 3600,
    }
    fields.update(overrides)
    return OpsClaims.model_validate(fields)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_issued_token_round_trips_its_claims() -> None:
    claims = _claims()
    assert verify_ops_token(OPS_KEY, issue_ops_token(OPS_KEY, claims), now=NOW) == claims


def test_token_is_a_compact_hs256_jwt() -> None:
    header = issue_ops_token(OPS_KEY, _claims()).split(".")[0]
    padded = header + "=" * (-len(header) % 4)
    assert json.loads(base64.urlsafe_b64decode(padded)) == {"alg": "HS256", "typ": "JWT"}


def test_expired_token_is_rejected() -> None:
    token = issue_ops_token(OPS_KEY, _claims(exp=NOW))
    with pytest.raises(TokenError) as caught:
        verify_ops_token(OPS_KEY, token, now=NOW)
    assert caught.value.reason == "expired"


def test_token_signed_with_another_key_is_rejected() -> None:
    token = issue_ops_token(b"another-key", _claims())
    with pytest.raises(TokenError) as caught:
        verify_ops_token(OPS_KEY, token, now=NOW)
    assert caught.value.reason == "bad signature"


def test_token_with_elevated_claims_is_rejected() -> None:
    header, _, signature = issue_ops_token(OPS_KEY, _claims()).split(".")
    forged = _b64url(_claims(roles=("admin",)).model_dump_json().encode())
    with pytest.raises(TokenError) as caught:
        verify_ops_token(OPS_KEY, f"{header}.{forged}.{signature}", now=NOW)
    assert caught.value.reason == "bad signature"


def test_unsigned_alg_none_token_is_rejected() -> None:
    header = _b64url(b'{"alg":"none","typ":"JWT"}')
    payload = _b64url(_claims().model_dump_json().encode())
    with pytest.raises(TokenError):
        verify_ops_token(OPS_KEY, f"{header}.{payload}.", now=NOW)


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "a..c", "a.b.c!", "é.b.c"])
def test_malformed_token_is_rejected(token: str) -> None:
    with pytest.raises(TokenError) as caught:
        verify_ops_token(OPS_KEY, token, now=NOW)
    assert caught.value.reason in {"malformed", "bad signature"}


def test_correctly_signed_token_with_invalid_claims_is_rejected() -> None:
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    bad_claims = {"sub": "u", "roles": ["owner"], "brands": [], "authority_fen": 1, "exp": NOW + 1}
    payload = _b64url(json.dumps(bad_claims).encode())
    signature = _b64url(hmac.new(OPS_KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    with pytest.raises(TokenError) as caught:
        verify_ops_token(OPS_KEY, f"{header}.{payload}.{signature}", now=NOW)
    assert caught.value.reason == "invalid claims"


def _signed_token(claims: dict[str, object]) -> str:
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = _b64url(json.dumps(claims).encode())
    signature = _b64url(hmac.new(OPS_KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


@pytest.mark.parametrize("missing", ["iss", "aud", "iat", "exp", "sub", "roles", "brands"])
def test_a_token_missing_a_claim_is_rejected(missing: str) -> None:
    claims = json.loads(_claims().model_dump_json())
    del claims[missing]
    with pytest.raises(TokenError) as caught:
        verify_ops_token(OPS_KEY, _signed_token(claims), now=NOW)
    assert caught.value.reason == "invalid claims"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "someone-else"}, "wrong issuer"),
        ({"aud": "aftersales-portal"}, "wrong audience"),
        ({"iat": NOW, "exp": NOW + 12 * 3600 + 1}, "lifetime over the maximum"),
        ({"iat": NOW + 3600, "exp": NOW + 7200}, "issued in the future"),
    ],
)
def test_a_token_for_another_issuer_audience_or_too_long_a_life_is_rejected(
    overrides: dict[str, object], reason: str
) -> None:
    token = issue_ops_token(OPS_KEY, _claims(**overrides))
    with pytest.raises(TokenError) as caught:
        verify_ops_token(OPS_KEY, token, now=NOW)
    assert caught.value.reason == reason


def test_issuer_audience_and_maximum_lifetime_are_the_verifiers_to_choose() -> None:
    token = mint_ops_token(
        OPS_KEY, sub="u", roles=("viewer",), brands=("*",), ttl_s=3600, now=NOW, issuer="corp",
        audience="ops",
    )
    claims = verify_ops_token(OPS_KEY, token, NOW, issuer="corp", audience="ops", max_ttl_s=3600)
    assert (claims.iss, claims.aud, claims.exp - claims.iat) == ("corp", "ops", 3600)
    with pytest.raises(TokenError) as caught:
        verify_ops_token(OPS_KEY, token, NOW, issuer="corp", audience="ops", max_ttl_s=3599)
    assert caught.value.reason == "lifetime over the maximum"


def test_higher_role_satisfies_lower_role() -> None:
    supervisor = _claims(roles=("supervisor",))
    assert supervisor.has_role("viewer")
    assert supervisor.has_role("handler")
    assert supervisor.has_role("supervisor")
    assert not supervisor.has_role("admin")


def test_admin_satisfies_every_role_and_no_roles_satisfy_none() -> None:
    admin = _claims(roles=("admin",))
    assert all(admin.has_role(r) for r in ("viewer", "handler", "supervisor", "admin"))
    assert not _claims(roles=()).has_role("viewer")


def test_brand_scope_limits_visible_brands() -> None:
    claims = _claims()
    assert claims.can_see_brand("brand-a")
    assert not claims.can_see_brand("brand-c")


def test_wildcard_brand_scope_sees_every_brand() -> None:
    assert _claims(brands=("*",)).can_see_brand("brand-z")


def test_negative_authority_is_invalid() -> None:
    with pytest.raises(ValueError, match="authority_fen"):
        _claims(authority_fen=-1)


# --------------------------------------------------------------------------- PII


MASTER_KEY = bytes(range(32))


def test_field_round_trips_under_its_subject_key() -> None:
    cipher = PiiCipher(MASTER_KEY)
    key = cipher.new_subject_key()
    token = cipher.encrypt_field(key, "张三丰", aad="subject-7/name")
    assert "张三丰" not in token
    assert cipher.decrypt_field(key, token, aad="subject-7/name") == "张三丰"


def test_same_plaintext_encrypts_differently_each_time() -> None:
    cipher = PiiCipher(MASTER_KEY)
    key = cipher.new_subject_key()
    first = cipher.encrypt_field(key, "13812345678", aad="s/phone")
    assert first != cipher.encrypt_field(key, "13812345678", aad="s/phone")


def test_ciphertext_moved_to_another_field_does_not_decrypt() -> None:
    cipher = PiiCipher(MASTER_KEY)
    key = cipher.new_subject_key()
    token = cipher.encrypt_field(key, "13812345678", aad="subject-7/phone")
    with pytest.raises(PiiError):
        cipher.decrypt_field(key, token, aad="subject-8/phone")


def test_another_subjects_key_cannot_decrypt() -> None:
    cipher = PiiCipher(MASTER_KEY)
    token = cipher.encrypt_field(cipher.new_subject_key(), "13812345678", aad="s/phone")
    with pytest.raises(PiiError):
        cipher.decrypt_field(cipher.new_subject_key(), token, aad="s/phone")


def test_tampered_or_garbled_ciphertext_is_rejected() -> None:
    cipher = PiiCipher(MASTER_KEY)
    key = cipher.new_subject_key()
    raw = bytearray(base64.b64decode(cipher.encrypt_field(key, "地址", aad="s/address")))
    raw[-1] ^= 1
    with pytest.raises(PiiError):
        cipher.decrypt_field(key, base64.b64encode(bytes(raw)).decode(), aad="s/address")
    with pytest.raises(PiiError):
        cipher.decrypt_field(key, "not base64!", aad="s/address")
    with pytest.raises(PiiError):
        cipher.decrypt_field(key, "", aad="s/address")


def test_wrapped_subject_key_unwraps_under_the_master_key() -> None:
    cipher = PiiCipher(MASTER_KEY)
    key = cipher.new_subject_key()
    wrapped = cipher.wrap_key(key)
    assert key not in wrapped
    assert cipher.unwrap_key(wrapped) == key


def test_wrapped_key_cannot_be_unwrapped_with_another_master_key() -> None:
    wrapped = PiiCipher(MASTER_KEY).wrap_key(bytes(32))
    with pytest.raises(PiiError):
        PiiCipher(bytes(reversed(range(32)))).unwrap_key(wrapped)


def test_subject_keys_are_random_32_bytes() -> None:
    cipher = PiiCipher(MASTER_KEY)
    first, second = cipher.new_subject_key(), cipher.new_subject_key()
    assert len(first) == 32
    assert first != second


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_keys_of_the_wrong_length_are_refused(length: int) -> None:
    with pytest.raises(PiiError, match="32 bytes"):
        PiiCipher(bytes(length))
    with pytest.raises(PiiError, match="32 bytes"):
        PiiCipher(MASTER_KEY).encrypt_field(bytes(length), "x", aad="s/x")


INDEX_KEY = b"blind-index-key-0123456789abcdef"


def test_blind_index_matches_equivalent_phone_spellings() -> None:
    plain = blind_index(INDEX_KEY, "phone", "13812345678")
    assert blind_index(INDEX_KEY, "phone", "+86 138-1234-5678") == plain
    assert blind_index(INDEX_KEY, "phone", "0086 13812345678") == plain
    assert blind_index(INDEX_KEY, "phone", "13812345679") != plain


def test_blind_index_normalises_case_width_and_whitespace() -> None:
    assert blind_index(INDEX_KEY, "email", " Li.Lei@Example.COM ") == blind_index(
        INDEX_KEY, "email", "li.lei@example.com"
    )
    assert blind_index(INDEX_KEY, "name", "张 三") == blind_index(INDEX_KEY, "name", "张三")
    assert blind_index(INDEX_KEY, "name", "ＡＢＣ") == blind_index(INDEX_KEY, "name", "abc")


def test_blind_index_separates_kinds_and_keys() -> None:
    value = "13812345678"
    assert blind_index(INDEX_KEY, "phone", value) != blind_index(INDEX_KEY, "id_number", value)
    assert blind_index(INDEX_KEY, "phone", value) != blind_index(b"other", "phone", value)


def test_blind_index_is_a_sha256_hex_digest() -> None:
    index = blind_index(INDEX_KEY, "phone", "13812345678")
    assert len(index) == 64
    assert set(index) <= set("0123456789abcdef")


def test_blind_index_rejects_empty_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        blind_index(INDEX_KEY, "", "x")


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13812345678", "138****5678"), ("02161234567", "021****4567"), ("12345", "*****")],
)
def test_phone_is_masked_keeping_prefix_and_last_four(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三丰", "张**"), ("张三", "张*"), ("欧阳娜娜", "欧***"), ("王", "*"), ("", "")],
)
def test_name_is_masked_keeping_first_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked
