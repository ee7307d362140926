"""Request authentication shared by every service: ops bearer tokens, scoped to brands.

Every ops and admin endpoint of every service declares what it needs with one
dependency, `ops_scope(role)` (or `ops_scope(role, all_brands=True)`), and receives a
`BrandScope`: the verified claims plus the rules every route applies the same way —

* a role too low is 403 (the caller is known, the action is not theirs);
* a listing shows only the token's brands (`BrandScope.only`);
* a single object of another brand is 404 with the body of a missing one
  (`BrandScope.check`), so a scoped user cannot even learn that it exists;
* registering brands or regulators needs a token for all brands (`*`), else 403.

The token is verified locally with the shared key, issuer, audience and maximum
lifetime (settings), so no service calls another to check it. The static admin token
counts as an all-brands admin only where development is declared.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.errors import AftersalesError, Forbidden, NotFound, Unauthorized
from shared.ratelimit import throttle
from shared.security import ALL_BRANDS, OpsClaims, Role, TokenError, verify_ops_token

bearer = HTTPBearer(auto_error=False, description="Ops bearer token (admin token: development)")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
T = TypeVar("T")


def ops_claims(request: Request, credentials: Credentials) -> OpsClaims:
    """The caller's verified claims; in development the admin token counts as an admin."""
    if credentials is None:
        raise Unauthorized("an ops bearer token is required")
    settings = request.app.state.runtime.settings
    token = credentials.credentials
    if settings.admin_token_enabled and hmac.compare_digest(
        token.encode(), settings.admin_token.encode()
    ):
        throttle(request, "ops", "admin-token")
        return OpsClaims(
            iss=settings.token_issuer,
            aud=settings.token_audience,
            sub="admin",
            roles=("admin",),
            brands=(ALL_BRANDS,),
            authority_fen=10**12,
            iat=0,
            exp=2**62,
        )
    try:
        claims = verify_ops_token(
            settings.token_key.encode(),
            token,
            int(time.time()),
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            max_ttl_s=settings.token_max_ttl_s,
        )
    except TokenError as error:
        raise Unauthorized(f"the bearer token is not valid: {error.reason}") from error
    throttle(request, "ops", claims.sub)
    return claims


@dataclass(frozen=True)
class BrandScope:
    """What an ops caller may see and act on: their claims, limited to their brands."""

    claims: OpsClaims

    @property
    def all_brands(self) -> bool:
        return ALL_BRANDS in self.claims.brands

    def allows(self, brand_id: str | None) -> bool:
        """Tell whether ``brand_id`` is in scope (an object of no known brand: all-brands only)."""
        if self.all_brands:
            return True
        return brand_id is not None and brand_id in self.claims.brands

    def check(self, brand_id: str | None, missing: AftersalesError | str) -> None:
        """Raise ``missing`` (the caller's own not-found error) for a brand out of scope."""
        if not self.allows(brand_id):
            raise missing if isinstance(missing, AftersalesError) else NotFound(missing)

    def only(self, items: Iterable[T], brand_of: Callable[[T], str | None]) -> list[T]:
        """The items of a listing that belong to the caller's brands."""
        return [item for item in items if self.allows(brand_of(item))]


def ops_scope(role: Role, *, all_brands: bool = False) -> Callable[..., BrandScope]:
    """The one dependency of every ops and admin route: `role` (or higher), brand scope.

    ``all_brands``: the action concerns the whole platform (registering a brand or a
    regulator), so only a token for all brands may take it (403 otherwise).
    """

    def check(claims: Annotated[OpsClaims, Depends(ops_claims)]) -> BrandScope:
        if not claims.has_role(role):
            raise Forbidden(f"this needs the {role} role")
        scope = BrandScope(claims)
        if all_brands and not scope.all_brands:
            raise Forbidden(f"this needs the {role} role for all brands ('*')")
        return scope

    check.__name__ = f"require_{role}{'_all_brands' if all_brands else ''}"
    return check
