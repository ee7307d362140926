"""Regulator nonces: refused while a replay could still pass the clock check, then pruned.

Issue 17: nonces were kept forever (an aggregate and a recorded command per signed
request, reads included). Now a nonce lives in a table until its request's timestamp
is out of the accepted skew, in the shared store, so replicas and restarts refuse it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake.application import IntakeApplication
from services.intake.commands import SignedRequest
from services.intake.errors import RegulatorRefused
from services.intake.main import SPEC
from services.intake.nonces import REGULATOR_NONCES, live_nonces
from services.intake.regulators import MAX_SKEW_S
from shared.replay import verify_replay
from shared.security import sign_request
from shared.service import open_application
from shared.settings import Settings
from tests.integration.test_regulator_transfers import register_regulator, signed, transfer_body
from tests.integration.test_replay import live_env
from tests.platform import eventually, register_brand

PATH = "/v1/regulator/transfers/沪消保委-2026-0001"


def signed_get(secret: str, at: datetime, nonce: str) -> SignedRequest:
    timestamp = int(at.timestamp())
    signature = sign_request(secret.encode(), "GET", PATH, timestamp, nonce, b"")
    return SignedRequest("sh-xbw", str(timestamp), nonce, signature, "GET", PATH, b"")


async def test_a_nonce_is_refused_within_the_window_by_any_replica_and_pruned_after(
    service: Any, settings: Settings
) -> None:
    intake = await service("intake")
    secret = await register_regulator(intake)
    app = intake.runtime.application
    assert isinstance(app, IntakeApplication)
    replica = await asyncio.to_thread(open_application, SPEC, settings)  # same store, new memory
    assert isinstance(replica, IntakeApplication)
    t0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    request = signed_get(secret, t0, "nonce-" + secrets.token_hex(8))
    key = {"regulator_id": "sh-xbw", "nonce": request.nonce}
    try:
        assert app.authenticate_regulator(request, t0).regulator_id == "sh-xbw"
        for at, who in ((t0, app), (t0 + timedelta(seconds=MAX_SKEW_S), replica)):
            with pytest.raises(RegulatorRefused):
                who.authenticate_regulator(request, at)

        assert app.prune_regulator_nonces(t0 + timedelta(seconds=MAX_SKEW_S)) == 0
        assert app.read_models.get_row(REGULATOR_NONCES.name, key) is not None
        after_window = t0 + timedelta(seconds=MAX_SKEW_S + 1)
        assert replica.prune_regulator_nonces(after_window) == 1
        assert app.read_models.get_row(REGULATOR_NONCES.name, key) is None
        with pytest.raises(RegulatorRefused):  # the replay itself is stale by now
            app.authenticate_regulator(request, after_window)
        fresh = signed_get(secret, after_window, request.nonce)  # newly signed, same nonce
        assert replica.authenticate_regulator(fresh, after_window).regulator_id == "sh-xbw"
        with pytest.raises(RegulatorRefused):
            app.authenticate_regulator(fresh, after_window)
    finally:
        await asyncio.to_thread(replica.close)


async def test_an_expired_nonce_not_yet_pruned_is_taken_over_once(service: Any) -> None:
    intake = await service("intake")
    secret = await register_regulator(intake)
    app = intake.runtime.application
    assert isinstance(app, IntakeApplication)
    t0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    app.authenticate_regulator(signed_get(secret, t0, "nonce-reused"), t0)
    later = t0 + timedelta(seconds=MAX_SKEW_S + 60)
    again = signed_get(secret, later, "nonce-reused")

    assert app.authenticate_regulator(again, later).regulator_id == "sh-xbw"
    with pytest.raises(RegulatorRefused):
        app.authenticate_regulator(again, later)


async def test_signed_requests_add_no_events_and_the_nonce_table_empties(service: Any) -> None:
    intake = await service("intake")
    await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    app = intake.runtime.application
    assert isinstance(app, IntakeApplication)
    raw = transfer_body("bathhouse")
    transfers = "/v1/regulator/transfers"
    posted = await intake.client.post(
        transfers, content=raw, headers=signed(secret, "POST", transfers, raw)
    )
    assert posted.status_code == 201, posted.text

    async def settled() -> Any:  # intake consumes its own stream too (webhooks): let it finish
        first = app.recorder.max_notification_id()
        await asyncio.sleep(0.5)
        return first if app.recorder.max_notification_id() == first else None

    events_before = await eventually(settled, what="intake's store at rest")

    for _ in range(30):
        read = await intake.client.get(PATH, headers=signed(secret, "GET", PATH))
        assert read.status_code == 200, read.text

    assert app.recorder.max_notification_id() == events_before  # reads record nothing
    assert live_nonces(app.read_models) == 31
    assert app.prune_regulator_nonces(datetime.now(UTC)) == 0
    later = datetime.fromtimestamp(time.time() + 2 * MAX_SKEW_S + 1, UTC)
    assert app.prune_regulator_nonces(later) == 31
    assert live_nonces(app.read_models) == 0


async def test_a_log_with_recorded_nonces_from_before_still_replays_exactly(
    service: Any, settings: Settings
) -> None:
    intake = await service("intake")
    await register_regulator(intake)
    app = intake.runtime.application
    assert isinstance(app, IntakeApplication)
    legacy = {  # as `authenticate_regulator` recorded each nonce before issue 17
        "regulator_id": "sh-xbw",
        "nonce": "nonce-from-2025",
        "method": "GET",
        "path": PATH,
        "timestamp": 1_760_000_000,
        "body_sha256": "0" * 64,
    }
    app.execute("regulator.nonce", legacy, datetime.fromtimestamp(1_760_000_000, UTC))
    await intake.stop()

    report = verify_replay("intake", IntakeApplication, live_env("intake", settings))

    assert report.exact, report.differences
    assert report.inputs >= 2
