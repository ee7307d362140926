"""What intake refuses, and why: one hierarchy under the platform's problem types.

Each error is also one of shared/errors.py's (Conflict, NotFound, ...), so the one
problem+json handler there maps it; domain and use cases raise, routers never catch.
"""

from __future__ import annotations

from shared.errors import (
    AftersalesError,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
)


class IntakeError(AftersalesError):
    """A command intake's rules refuse."""


# --- complaints -------------------------------------------------------------------------


class OfferNotOpen(Conflict, IntakeError):
    """The consumer acted on an offer that does not stand (any more)."""


class ComplaintClosedForActions(Conflict, IntakeError):
    """The complaint no longer takes consumer actions (withdrawn or closed)."""


class ComplaintNotFound(NotFound, IntakeError):
    """No such complaint for this brand (another brand's is not found, never forbidden)."""


class GroupNotFound(NotFound, IntakeError):
    """No such complaint group for this brand."""


# --- contact sources --------------------------------------------------------------------


class SourceAlreadyBlocked(Conflict, IntakeError):
    """Operations asked to block a source that is blocked already."""


class SourceBlocked(Forbidden, IntakeError):
    """A blocked source's contact: recorded, then refused."""


class SourceNotFound(NotFound, IntakeError):
    """No such contact source, or not one of the ops user's brands."""


class SubjectNotFound(NotFound, IntakeError):
    """No such data subject, or not one of the ops user's brands."""


# --- brands and keys --------------------------------------------------------------------


class AlreadyRegistered(Conflict, IntakeError):
    """A brand or regulator with this id is registered already."""


class BrandNotRegistered(NotFound, IntakeError):
    """The brand (or its key) is not registered."""


class ApiKeyRefused(Unauthorized, IntakeError):
    """The API key is unknown or revoked."""


# --- regulators -------------------------------------------------------------------------


class RegulatorRefused(Unauthorized, IntakeError):
    """A regulator request that is not signed as agreed: unknown, bad signature, reused nonce."""


class TransferNotFound(NotFound, IntakeError):
    """No transfer of this number from this regulator."""


class TransferToUnknownBrand(Unprocessable, IntakeError):
    """A transfer names a brand that is not registered."""


# --- webhooks ---------------------------------------------------------------------------


class WebhookError(IntakeError):
    """A webhook command the rules refuse."""


class TooManySubscriptions(Conflict, WebhookError):
    """The brand has as many subscriptions as it may have."""


class DeliveryConcluded(Conflict, WebhookError):
    """The delivery was already delivered or abandoned."""


class WebhookNotFound(NotFound, WebhookError):
    """No such (active) webhook for this brand."""


class WebhookTargetRefused(Unprocessable, WebhookError):
    """The webhook URL is not a public endpoint (or not https in production)."""

    slug, title = "webhook-target-refused", "The webhook URL is not allowed"
