"""Request authentication shared by every service: ops bearer tokens and the admin token.

Ops endpoints declare the role they need with `Depends(require_role("handler"))`; the
token is verified locally with the shared key, so no service calls another to check it.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.errors import Forbidden, Unauthorized
from shared.ratelimit import throttle
from shared.security import ALL_BRANDS, OpsClaims, Role, TokenError, verify_ops_token

bearer = HTTPBearer(auto_error=False, description="Ops bearer token or the admin token")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _settings_key(request: Request) -> tuple[bytes, str]:
    settings = request.app.state.runtime.settings
    return settings.token_key.encode(), settings.admin_token


def ops_claims(request: Request, credentials: Credentials) -> OpsClaims:
    """The caller's verified claims; the configured admin token counts as an admin."""
    if credentials is None:
        raise Unauthorized("an ops bearer token is required")
    key, admin_token = _settings_key(request)
    token = credentials.credentials
    if hmac.compare_digest(token.encode(), admin_token.encode()):
        throttle(request, "ops", "admin-token")
        return OpsClaims(
            sub="admin", roles=("admin",), brands=(ALL_BRANDS,), authority_fen=10**12, exp=2**62
        )
    try:
        claims = verify_ops_token(key, token, int(time.time()))
    except TokenError as error:
        raise Unauthorized(f"the bearer token is not valid: {error.reason}") from error
    throttle(request, "ops", claims.sub)
    return claims


def require_role(role: Role) -> Callable[..., OpsClaims]:
    """A dependency that lets through only callers holding `role` (or a higher one)."""

    def check(claims: Annotated[OpsClaims, Depends(ops_claims)]) -> OpsClaims:
        if not claims.has_role(role):
            raise Forbidden(f"this needs the {role} role")
        return claims

    check.__name__ = f"require_{role}"
    return check
