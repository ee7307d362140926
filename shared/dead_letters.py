"""What the ops console may show of a dead letter: its brand, and an error without payload.

A dead letter's subject is the upstream subject, `<service>.<brand>.<complaint>.<Type>`,
so its brand is known without reading the payload. Its error is recorded as the
exception type and a reason drawn from a fixed vocabulary (plus, for a payload that
fails its schema, the failing field names and error kinds): never a value from the
message, which may carry a consumer's personal data. Letters recorded before this rule
are shown through the same vocabulary (`public_error`).
"""

from __future__ import annotations

import re

from pydantic import ValidationError

# ContractError message heads (shared/contracts) and what may be shown of each.
_CONTRACT_REASONS = (
    ("not a contract event", "not a contract event"),
    ("no contract registered", "no contract registered for the event type"),
    ("payload of ", "the payload does not match its contract"),
    ("newer than this build supports", "schema version newer than this build supports"),
    ("is not MAJOR.MINOR", "schema version is not MAJOR.MINOR"),
)
PROCESSING_FAILED = "processing failed on every delivery; details are in the service log"
_FIELDS = re.compile(r" \(fields: [A-Za-z0-9_.*, ]{1,300}\)")
_KNOWN = {reason for _, reason in _CONTRACT_REASONS} | {PROCESSING_FAILED}
_SAFE = re.compile(r"(?P<type>[A-Za-z_][A-Za-z0-9_]{0,60}): (?P<reason>[^()]*?)(?P<fields> \(.*)?")
_LEGACY_REPR = re.compile(r"(?P<type>[A-Za-z_][A-Za-z0-9_]{0,60})\(")


def safe_reason(error: BaseException) -> str:
    """The error to record for a dead letter: type and a fixed reason, no payload value."""
    kind = type(error).__name__
    message = str(error)
    for head, reason in _CONTRACT_REASONS:
        if head in message:
            return f"{kind}: {reason}{_field_names(error.__cause__)}"
    return f"{kind}: {PROCESSING_FAILED}"


def public_error(recorded: str) -> str:
    """What the ops console shows of a recorded error (also of letters recorded earlier)."""
    safe = _SAFE.fullmatch(recorded)
    if safe and safe["reason"] in _KNOWN:
        fields = safe["fields"]
        if not fields or _FIELDS.fullmatch(fields):
            return recorded
    for head, reason in _CONTRACT_REASONS:
        if head in recorded:
            return f"ContractError: {reason}"
    legacy = _LEGACY_REPR.match(recorded)
    return f"{legacy['type'] if legacy else 'Error'}: {PROCESSING_FAILED}"


def brand_of_subject(subject: str) -> str | None:
    """The brand in an upstream subject `<service>.<brand>.<complaint>.<Type>`, if any."""
    parts = subject.split(".")
    return parts[1] if len(parts) == 4 and parts[1] else None


def _field_names(cause: BaseException | None) -> str:
    """The failing fields and error kinds of a validation error (never the input)."""
    if not isinstance(cause, ValidationError):
        return ""
    names = sorted({f"{_location(e['loc'])} {e['type']}" for e in cause.errors()})
    shown = ", ".join(name for name in names if _NAME.fullmatch(name))
    return f" (fields: {shown[:280]})" if shown else ""


def _location(loc: tuple[int | str, ...]) -> str:
    """A field path; a part that is not a schema name (a key from the message) becomes *."""
    return ".".join(
        str(part) if isinstance(part, int) or _IDENTIFIER.fullmatch(part) else "*"
        for part in loc
    ) or "body"


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_]{0,40}")
_NAME = re.compile(r"[A-Za-z0-9_.*]{0,200} [a-z_]{1,60}")
