"""Security primitives: brand API keys, regulator and webhook HMAC signatures, ops tokens, PII.

Pure functions over bytes and strings; randomness only where keys and nonces are minted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import string
import unicodedata
from typing import Literal, TypeAlias

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# --------------------------------------------------------------------------- errors


class SecurityError(Exception):
    """Base class of every error raised by this module."""


SignatureFailure: TypeAlias = Literal["stale timestamp", "bad signature", "malformed"]
TokenFailure: TypeAlias = Literal[
    "malformed",
    "bad signature",
    "expired",
    "invalid claims",
    "wrong issuer",
    "wrong audience",
    "lifetime over the maximum",
    "issued in the future",
]


class SignatureError(SecurityError):
    """A signed regulator request was rejected; ``reason`` says why."""

    def __init__(self, reason: SignatureFailure) -> None:
        super().__init__(reason)
        self.reason: SignatureFailure = reason


class TokenError(SecurityError):
    """An ops bearer token was rejected; ``reason`` says why."""

    def __init__(self, reason: TokenFailure) -> None:
        super().__init__(reason)
        self.reason: TokenFailure = reason


class PiiError(SecurityError):
    """PII could not be protected or recovered (bad key, tampered or shredded data)."""


# --------------------------------------------------------------------------- brand API keys

API_KEY_PREFIX = "ask"
_KEY_ID_BYTES = 8
_KEY_SECRET_LENGTH = 40
_BASE62 = string.ascii_letters + string.digits
_API_KEY_SHAPE = re.compile(
    r"(?P<prefix>[a-z]+)_(?P<key_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9]{40})"
)


def generate_api_key(prefix: str = API_KEY_PREFIX) -> tuple[str, str]:
    """Mint a brand API key; return ``(plaintext, key_id)``. Show the plaintext once only."""
    if not re.fullmatch(r"[a-z]+", prefix):
        raise ValueError("API key prefix must be lowercase ASCII letters")
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    secret = "".join(secrets.choice(_BASE62) for _ in range(_KEY_SECRET_LENGTH))
    return f"{prefix}_{key_id}_{secret}", key_id


def parse_api_key(key: str, prefix: str = API_KEY_PREFIX) -> str | None:
    """Return the key id of a well-formed API key with ``prefix``, or ``None``."""
    match = _API_KEY_SHAPE.fullmatch(key)
    if match is None or match["prefix"] != prefix:
        return None
    return match["key_id"]


def hash_api_key(key: str) -> str:
    """Hash an API key for storage (SHA-256 hex; keys carry ~238 random bits, so no KDF)."""
    return hashlib.sha256(key.encode()).hexdigest()


def verify_api_key(key: str, stored_hash: str) -> bool:
    """Tell, in constant time, whether ``key`` matches a hash from :func:`hash_api_key`."""
    return hmac.compare_digest(hash_api_key(key), stored_hash)


# --------------------------------------------------------------------------- regulator requests

REGULATOR_HEADER = "X-Aftersales-Regulator"
TIMESTAMP_HEADER = "X-Aftersales-Timestamp"
NONCE_HEADER = "X-Aftersales-Nonce"
SIGNATURE_HEADER = "X-Aftersales-Signature"
DEFAULT_MAX_SKEW_SECONDS = 300

_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_NONCE_SHAPE = re.compile(r"[A-Za-z0-9._~-]{8,128}")


def canonical_request(method: str, path: str, timestamp: int, nonce: str, body: bytes) -> str:
    """Build the string regulators sign: METHOD, path with query, timestamp, nonce, body hash."""
    body_hash = hashlib.sha256(body).hexdigest()
    return "\n".join((method.upper(), path, str(timestamp), nonce, body_hash))


def sign_request(
    secret: bytes, method: str, path: str, timestamp: int, nonce: str, body: bytes
) -> str:
    """Return the hex HMAC-SHA256 signature of a regulator request."""
    canonical = canonical_request(method, path, timestamp, nonce, body)
    return _hmac_hex(secret, canonical.encode())


def verify_request(
    secret: bytes,
    method: str,
    path: str,
    timestamp: int,
    nonce: str,
    body: bytes,
    signature: str,
    now: int,
    max_skew: int = DEFAULT_MAX_SKEW_SECONDS,
) -> None:
    """Accept a signed regulator request or raise :class:`SignatureError`.

    The signature is checked before the clock so an unauthenticated caller learns
    nothing about our time. Replay protection is the caller's job: record each
    accepted nonce (as an event) and reject a nonce already seen within ``max_skew``.
    """
    if not _NONCE_SHAPE.fullmatch(nonce) or not _HEX_SHA256.fullmatch(signature):
        raise SignatureError("malformed")
    expected = sign_request(secret, method, path, timestamp, nonce, body)
    if not hmac.compare_digest(expected, signature):
        raise SignatureError("bad signature")
    if abs(now - timestamp) > max_skew:
        raise SignatureError("stale timestamp")


def parse_timestamp_header(value: str) -> int:
    """Parse the unix-seconds timestamp header or raise ``SignatureError("malformed")``."""
    if not re.fullmatch(r"[0-9]{1,12}", value):
        raise SignatureError("malformed")
    return int(value)


# --------------------------------------------------------------------------- outgoing webhooks

WEBHOOK_SIGNATURE_HEADER = "X-Aftersales-Webhook-Signature"


def sign_webhook(secret: bytes, timestamp: int, body: bytes) -> str:
    """Return the webhook signature header value ``t=<ts>,v1=<hex>`` (Stripe style)."""
    return f"t={timestamp},v1={_webhook_digest(secret, timestamp, body)}"


def verify_webhook(
    secret: bytes, header: str, body: bytes, now: int, tolerance: int = DEFAULT_MAX_SKEW_SECONDS
) -> bool:
    """Tell whether a webhook header signs ``body`` and is within ``tolerance`` seconds.

    Several ``v1=`` entries are allowed so a sender can sign with old and new secrets.
    """
    parsed = _parse_webhook_header(header)
    if parsed is None:
        return False
    timestamp, candidates = parsed
    expected = _webhook_digest(secret, timestamp, body)
    signed = any(hmac.compare_digest(expected, candidate) for candidate in candidates)
    return signed and abs(now - timestamp) <= tolerance


def _webhook_digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return _hmac_hex(secret, f"{timestamp}.".encode() + body)


def _parse_webhook_header(header: str) -> tuple[int, list[str]] | None:
    pairs = [part.strip().partition("=") for part in header.split(",")]
    timestamps = [value for key, _, value in pairs if key == "t"]
    candidates = [value for key, _, value in pairs if key == "v1"]
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        return None
    return int(timestamps[0]), candidates


# --------------------------------------------------------------------------- ops bearer tokens

Role: TypeAlias = Literal["viewer", "handler", "supervisor", "admin"]
ROLE_RANK: dict[Role, int] = {"viewer": 0, "handler": 1, "supervisor": 2, "admin": 3}
ALL_BRANDS = "*"

_TOKEN_HEADER = {"alg": "HS256", "typ": "JWT"}
_B64URL_TEXT = re.compile(r"[A-Za-z0-9_-]+")


DEFAULT_TOKEN_ISSUER = "aftersales"  # noqa: S105 (a name, not a secret)
DEFAULT_TOKEN_AUDIENCE = "aftersales-ops"  # noqa: S105 (a name, not a secret)
DEFAULT_TOKEN_MAX_TTL_S = 12 * 3600
# Clocks of the minting host and of the services may differ this much (iat in the future).
TOKEN_CLOCK_SKEW_S = 60


class OpsClaims(BaseModel):
    """Who an ops user is and what they may do, as carried in their bearer token.

    Every claim is required: `iss` (who minted it), `aud` (the ops API), `iat` and `exp`
    (its lifetime, bounded by the verifier's maximum).
    """

    model_config = ConfigDict(frozen=True, strict=True)

    iss: str = Field(min_length=1)
    aud: str = Field(min_length=1)
    sub: str = Field(min_length=1)
    roles: tuple[Role, ...]
    brands: tuple[str, ...]
    authority_fen: int = Field(ge=0)
    iat: int
    exp: int

    def has_role(self, role: Role) -> bool:
        """Tell whether any held role is ``role`` or above it (admin > supervisor > ...)."""
        return any(ROLE_RANK[held] >= ROLE_RANK[role] for held in self.roles)

    def can_see_brand(self, brand_id: str) -> bool:
        """Tell whether the user may see ``brand_id``'s complaints."""
        return ALL_BRANDS in self.brands or brand_id in self.brands


def issue_ops_token(key: bytes, claims: OpsClaims) -> str:
    """Sign ``claims`` into a compact HS256 JWT."""
    header = _b64url_encode(_compact_json(_TOKEN_HEADER))
    payload = _b64url_encode(claims.model_dump_json().encode())
    signing_input = f"{header}.{payload}"
    return f"{signing_input}.{_b64url_encode(_hmac_digest(key, signing_input.encode()))}"


def verify_ops_token(
    key: bytes,
    token: str,
    now: int,
    issuer: str = DEFAULT_TOKEN_ISSUER,
    audience: str = DEFAULT_TOKEN_AUDIENCE,
    max_ttl_s: int = DEFAULT_TOKEN_MAX_TTL_S,
) -> OpsClaims:
    """Return the claims of a valid token or raise :class:`TokenError`.

    Valid: signed with ``key``, every claim present, minted by ``issuer`` for
    ``audience``, not issued in the future, unexpired, and living at most ``max_ttl_s``.
    """
    header, payload, signature = _split_token(token)
    expected = _hmac_digest(key, f"{header}.{payload}".encode())
    if not hmac.compare_digest(expected, _b64url_decode_token_part(signature)):
        raise TokenError("bad signature")
    if _parse_token_header(_b64url_decode_token_part(header)) != _TOKEN_HEADER:
        raise TokenError("malformed")
    claims = _parse_claims(_b64url_decode_token_part(payload))
    if not hmac.compare_digest(claims.iss.encode(), issuer.encode()):
        raise TokenError("wrong issuer")
    if not hmac.compare_digest(claims.aud.encode(), audience.encode()):
        raise TokenError("wrong audience")
    if claims.exp - claims.iat > max_ttl_s:
        raise TokenError("lifetime over the maximum")
    if claims.iat > now + TOKEN_CLOCK_SKEW_S:
        raise TokenError("issued in the future")
    if claims.exp <= now:
        raise TokenError("expired")
    return claims


def mint_ops_token(
    key: bytes,
    *,
    sub: str,
    roles: tuple[Role, ...],
    brands: tuple[str, ...],
    ttl_s: int,
    now: int,
    authority_fen: int = 0,
    issuer: str = DEFAULT_TOKEN_ISSUER,
    audience: str = DEFAULT_TOKEN_AUDIENCE,
) -> str:
    """Mint an ops token living ``ttl_s`` seconds from ``now`` (the CLI and tests use it)."""
    claims = OpsClaims(
        iss=issuer,
        aud=audience,
        sub=sub,
        roles=roles,
        brands=brands,
        authority_fen=authority_fen,
        iat=now,
        exp=now + ttl_s,
    )
    return issue_ops_token(key, claims)


def _split_token(token: str) -> tuple[str, str, str]:
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenError("malformed")
    return parts[0], parts[1], parts[2]


def _parse_token_header(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError as error:  # includes JSONDecodeError and UnicodeDecodeError
        raise TokenError("malformed") from error


def _parse_claims(payload: bytes) -> OpsClaims:
    try:
        return OpsClaims.model_validate_json(payload)
    except ValidationError as error:
        raise TokenError("invalid claims") from error


def _b64url_decode_token_part(part: str) -> bytes:
    if not _B64URL_TEXT.fullmatch(part):
        raise TokenError("malformed")
    try:
        return _b64url_decode(part)
    except binascii.Error as error:
        raise TokenError("malformed") from error


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def _compact_json(value: dict[str, str]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


# --------------------------------------------------------------------------- PII vault crypto

SUBJECT_KEY_BYTES = 32
_NONCE_BYTES = 12
_KEY_WRAP_AAD = b"aftersales/pii/subject-key/v1"


class PiiCipher:
    """Encrypts PII under per-data-subject keys, which are wrapped under one master key.

    Destroying a subject's wrapped key (PIPL erasure) makes all their fields unreadable
    without rewriting any event: crypto-shredding.
    """

    def __init__(self, master_key: bytes) -> None:
        self._master = AESGCM(_require_aes256_key(master_key, "master key"))

    def new_subject_key(self) -> bytes:
        """Mint a random 32-byte key for one data subject."""
        return secrets.token_bytes(SUBJECT_KEY_BYTES)

    def wrap_key(self, subject_key: bytes) -> bytes:
        """Encrypt a subject key under the master key for storage (nonce || ciphertext)."""
        _require_aes256_key(subject_key, "subject key")
        return _seal(self._master, subject_key, _KEY_WRAP_AAD)

    def unwrap_key(self, wrapped: bytes) -> bytes:
        """Recover a subject key wrapped by :meth:`wrap_key`, or raise :class:`PiiError`."""
        return _open(self._master, wrapped, _KEY_WRAP_AAD)

    def encrypt_field(self, subject_key: bytes, plaintext: str, aad: str) -> str:
        """Encrypt one PII field; ``aad`` binds it to its place (e.g. ``"subject-7/phone"``)."""
        cipher = AESGCM(_require_aes256_key(subject_key, "subject key"))
        return base64.b64encode(_seal(cipher, plaintext.encode(), aad.encode())).decode("ascii")

    def decrypt_field(self, subject_key: bytes, ciphertext: str, aad: str) -> str:
        """Decrypt a field from :meth:`encrypt_field` with the same ``aad``, or raise PiiError."""
        cipher = AESGCM(_require_aes256_key(subject_key, "subject key"))
        return _open(cipher, _b64_decode_field(ciphertext), aad.encode()).decode()


def _seal(cipher: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, plaintext, aad)


def _open(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    try:
        return cipher.decrypt(nonce, body, aad)
    except (InvalidTag, ValueError) as error:
        raise PiiError("ciphertext cannot be decrypted with this key and context") from error


def _b64_decode_field(ciphertext: str) -> bytes:
    try:
        return base64.b64decode(ciphertext.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise PiiError("encrypted field is not valid base64") from error


def _require_aes256_key(key: bytes, what: str) -> bytes:
    if len(key) != SUBJECT_KEY_BYTES:
        raise PiiError(f"{what} must be {SUBJECT_KEY_BYTES} bytes, got {len(key)}")
    return key


# --------------------------------------------------------------------------- blind indexes, masking

_CN_MOBILE_WITH_COUNTRY_CODE = re.compile(r"(?:0086|86)(1\d{10})")


def blind_index(index_key: bytes, kind: str, value: str) -> str:
    """Return an HMAC-SHA256 hex index of a normalised value, for matching without plaintext.

    ``kind`` (e.g. ``"phone"``, ``"name"``) separates namespaces so equal strings of
    different kinds never share an index.
    """
    if not kind or "\x00" in kind:
        raise ValueError("blind index kind must be non-empty and contain no NUL")
    message = f"{kind}\x00{normalise_for_index(kind, value)}".encode()
    return _hmac_hex(index_key, message)


def normalise_for_index(kind: str, value: str) -> str:
    """Normalise a value so trivially different spellings index alike.

    NFKC, case-folded, whitespace removed; phones keep digits only and drop a +86 prefix.
    """
    text = "".join(unicodedata.normalize("NFKC", value).casefold().split())
    if kind != "phone":
        return text
    digits = "".join(ch for ch in text if ch.isascii() and ch.isdigit())
    match = _CN_MOBILE_WITH_COUNTRY_CODE.fullmatch(digits)
    return match.group(1) if match else digits


def mask_phone(phone: str) -> str:
    """Mask a phone number for display: ``"13812345678"`` -> ``"138****5678"``."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str) -> str:
    """Mask a personal name, keeping its first character: ``"张三丰"`` -> ``"张**"``."""
    name = name.strip()
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "*" * (len(name) - 1)


# --------------------------------------------------------------------------- helpers


def _hmac_digest(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _hmac_hex(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()
