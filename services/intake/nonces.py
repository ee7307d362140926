"""Regulator nonces in use: a small table in intake's store, pruned once they cannot recur.

A signed request carries a timestamp that is accepted within the clock skew of the
server's clock, so its nonce must be remembered only until `timestamp + skew`: after
that the same signed request is refused as stale anyway. Each accepted nonce is one row
keyed by (regulator, nonce) with that expiry; a second request with a live nonce fails
on the key, in one statement, so two intake replicas on one store and a restart refuse
it alike. Rows past their expiry are deleted on a cadence (`prune_expired`): the table
holds the last few minutes of traffic, not all of it.

This is edge state like a rate limit, not a projection of the log: no event records a
nonce (before issue 17 each was a `RegulatorNonce` aggregate kept forever).
"""

from __future__ import annotations

from eventsourcing.persistence import IntegrityError

from shared.readmodels import (
    Cmp,
    Column,
    Delete,
    Index,
    Insert,
    ReadModelRecorder,
    Table,
    Update,
    WriteConflict,
)

REGULATOR_NONCES = Table(
    "regulator_nonces",
    (
        Column("regulator_id", "text", nullable=False),
        Column("nonce", "text", nullable=False),
        Column("expires_at", "real", nullable=False),  # unix seconds
    ),
    primary_key=("regulator_id", "nonce"),
    indexes=(Index(("expires_at",)),),
)
PRUNE_EVERY_S = 60.0
PRUNE_PAGE = 1000


def claim_nonce(
    store: ReadModelRecorder, regulator_id: str, nonce: str, expires_at: float, now: float
) -> bool:
    """Record `nonce` as used until `expires_at`; False if it is in use (a replay)."""
    key = {"regulator_id": regulator_id, "nonce": nonce}
    if _insert(store, key, expires_at):
        return True
    held = store.get_row(REGULATOR_NONCES.name, key)
    if held is None:  # pruned in between: it had expired
        return _insert(store, key, expires_at)
    if held["expires_at"] >= now:
        return False
    # Expired but not pruned yet: take it over, unless another request just did.
    renew = Update(
        REGULATOR_NONCES.name,
        key,
        {"expires_at": expires_at},
        expect={"expires_at": held["expires_at"]},
        required=True,
    )
    try:
        store.write([renew])
    except WriteConflict:
        return False
    return True


def prune_expired(store: ReadModelRecorder, now: float) -> int:
    """Delete the nonces that expired before `now`; returns how many."""
    pruned = 0
    while True:
        rows = store.select_rows(
            REGULATOR_NONCES.name,
            {"expires_at": Cmp("<", now)},
            order_by=("expires_at",),
            limit=PRUNE_PAGE,
        )
        if rows:
            store.write(
                [
                    Delete(REGULATOR_NONCES.name, {k: r[k] for k in ("regulator_id", "nonce")})
                    for r in rows
                ]
            )
        pruned += len(rows)
        if len(rows) < PRUNE_PAGE:
            return pruned


def live_nonces(store: ReadModelRecorder) -> int:
    return store.count_rows(REGULATOR_NONCES.name, {})


def _insert(store: ReadModelRecorder, key: dict[str, str], expires_at: float) -> bool:
    try:
        store.write([Insert(REGULATOR_NONCES.name, {**key, "expires_at": expires_at})])
    except IntegrityError:
        return False
    return True
