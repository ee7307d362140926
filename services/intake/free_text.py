"""Free text a consumer typed (descriptions, reasons, corrections): redacted, original sealed.

Done at the edge, before a command is recorded: the recorded input and every event hold
the redacted text, which is what leaves intake (NATS, downstream stores, history,
webhooks); the original of each field that redaction changed is sealed under the data
subject's key, so it is readable (the brand's own GET) only while that key exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from shared.redaction import redact

# Where each sealed original belongs (part of its AAD; keys of `Complaint.sealed_text`).
DESCRIPTION = "description"
CORRECTION = "corrections."
ACTION = "consumer_action."
WITHDRAWAL = "withdrawal.reason"


@dataclass(frozen=True)
class ProtectedText:
    """Free-text fields as they may be recorded: redacted, plus the sealed originals."""

    redacted: dict[str, str]
    sealed: dict[str, str] = field(default_factory=dict)

    def sealed_or_none(self) -> dict[str, str] | None:
        """What an event records: None when nothing needed sealing (as before redaction)."""
        return dict(self.sealed) or None


def protect(
    texts: Mapping[str, str], names: Iterable[str], seal: Callable[[str, str], str]
) -> ProtectedText:
    """Redact each text; seal (`seal(place, original)`) those redaction changed."""
    names = list(names)
    redacted, sealed = {}, {}
    for place, original in texts.items():
        redacted[place] = redact(original, names)
        if redacted[place] != original:
            sealed[place] = seal(place, original)
    return ProtectedText(redacted, sealed)


def text_aad(subject_id: str, complaint_id: str, place: str) -> str:
    """What a sealed original is bound to: its subject, its complaint and its place."""
    return f"{subject_id}:text:{complaint_id}:{place}"
