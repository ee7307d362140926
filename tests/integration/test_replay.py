"""`aftersales replay --verify` after the lifecycle, on SQLite and PostgreSQL.

Every service rebuilt from its recorded inputs into a scratch store equals its live store
event for event (ids, versions, payloads, timestamps); a stored event altered behind the
services' backs makes the verification fail and name that event and field. Intake is
replayed after the lifecycle plus regulator transfers, duplicates, idempotent retries,
source blocks, withdrawals and webhook deliveries (retried, delivered, abandoned), and
its recorded commands hold no plaintext PII, secret or API key.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest

from shared import cli
from shared.inputs import COMMAND_TOPIC
from shared.replay import ReplayReport, verify_replay
from shared.settings import Settings, application_secrets, persistence_env
from shared.store import ServiceApplication
from tests.integration.test_nuisance import ops
from tests.integration.test_regulator_transfers import (
    TRANSFERS,
    register_regulator,
    signed,
    transfer_body,
)
from tests.integration.test_webhooks import LOCAL_RECEIVERS, Receiver
from tests.platform import (
    SPECS,
    RunningService,
    admin_headers,
    complaint_body,
    eventually,
    register_brand,
    serving,
)

REPLAYABLE = ("routing", "compensation", "followup")  # downstream of intake


async def run_lifecycle(service: Any, complaints: int) -> list[RunningService]:
    """Post complaints, accept the offer of every other one, wait for the revisits."""
    intake = await service("intake")
    others = [await service(name) for name in REPLAYABLE]
    brand = await register_brand(intake, "replay-demo")
    ids = []
    for number in range(complaints):
        body = complaint_body(
            consumer={"name": "王先生", "phone": f"1390000{number:04d}"},
            product={"category": "冰箱 refrigerator", "serial": f"HR{number:04d}"},
        )
        posted = await intake.client.post("/v1/complaints", json=body, headers=brand)
        assert posted.status_code == 201, posted.text
        ids.append(posted.json()["complaint_id"])
    for complaint_id in ids[::2]:

        async def offered(complaint_id: str = complaint_id) -> Any:
            url = f"/v1/complaints/{complaint_id}"
            body = (await intake.client.get(url, headers=brand)).json()
            return body if body["offer"] else None

        offer = (await eventually(offered, what="an offer"))["offer"]
        accepted = await intake.client.post(
            f"/v1/complaints/{complaint_id}/consumer-actions",
            headers=brand,
            json={
                "action": "accept",
                "offer_id": offer["offer_id"],
                "option_id": offer["options"][0]["option_id"],
            },
        )
        assert accepted.status_code == 202, accepted.text
    for complaint_id in ids[::2]:

        async def revisited(complaint_id: str = complaint_id) -> Any:
            url = f"/v1/complaints/{complaint_id}/history"
            events = (await intake.client.get(url, headers=brand)).json()["events"]
            return any(e["type"] == "RevisitScheduled" for e in events)

        await eventually(revisited, timeout=20, what="RevisitScheduled")
    return [intake, *others]


def live_env(name: str, settings: Settings) -> dict[str, str]:
    return {**persistence_env(name, settings), **application_secrets(settings)}


def verify(name: str, settings: Settings) -> ReplayReport:
    return verify_replay(name, SPECS[name].application, live_env(name, settings))


def tamper(name: str, settings: Settings, topic: str, change: Any) -> tuple[UUID, int]:
    """Rewrite one stored event's state in the live database, as a hand edit would."""
    app: ServiceApplication = SPECS[name].application(env=live_env(name, settings))
    try:
        stored = app.recorder.select_notifications(1, 1, topics=[topic])[0]
        state = json.loads(stored.state)
        change(state)
        new_state = json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()
        recorder: Any = app.recorder
        postgres = hasattr(recorder.datastore, "schema")
        table = recorder.events_table_name
        if postgres:
            sql = (
                f'UPDATE "{recorder.datastore.schema}"."{table}" SET state = %s '
                "WHERE originator_id = %s AND originator_version = %s"
            )
            key: Any = stored.originator_id
        else:
            sql = f"UPDATE {table} SET state = ? WHERE originator_id = ? AND originator_version = ?"
            key = UUID(str(stored.originator_id)).hex  # how eventsourcing.sqlite stores ids
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(sql, (new_state, key, stored.originator_version))
        return UUID(str(stored.originator_id)), stored.originator_version
    finally:
        app.close()


def later_timestamp(state: dict[str, Any]) -> None:
    stamp = state["timestamp"]
    stamp["_data_"] = stamp["_data_"].replace(stamp["_data_"][:4], "2031", 1)


async def test_replay_of_the_lifecycle_is_exact_and_a_tampered_event_is_named(
    service: Any, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    running = await run_lifecycle(service, complaints=6)
    for started in running:
        await started.stop()  # a quiet store: every input processed, nothing in flight

    reports = {name: verify(name, settings) for name in REPLAYABLE}
    for name, report in reports.items():
        assert report.differences == [], f"{name}: {[str(d) for d in report.differences]}"
        assert report.inputs >= 6, report.summary()
        assert report.events > report.inputs, report.summary()
    assert reports["followup"].inputs >= 6 + 3  # every complaint, every acceptance

    assert cli.main(["replay", "--verify", "--data-dir", str(settings.data_dir)]) == 0
    out = capsys.readouterr()
    assert [line.split(",")[-1] for line in out.out.splitlines()] == [" exact"] * 4
    assert [line.split(":")[0] for line in out.out.splitlines()] == list(cli.REPLAYABLE)

    def other_message(state: dict[str, Any]) -> None:
        state["message"] = "tampered"

    apology = tamper(
        "compensation", settings, "compensation.CompensationCase.ApologyIssued", other_message
    )
    severity = tamper(
        "routing", settings, "routing.RoutingCase.SeverityAssessed", later_timestamp
    )
    altered = verify("compensation", settings)
    assert [(d.aggregate_id, d.version, d.event_type, d.field) for d in altered.differences] == [
        (str(apology[0]), apology[1], "ApologyIssued", "message")
    ]
    assert "tampered" in altered.differences[0].live
    moved = verify("routing", settings)
    assert [(d.aggregate_id, d.version, d.event_type, d.field) for d in moved.differences] == [
        (str(severity[0]), severity[1], "SeverityAssessed", "timestamp")
    ]
    capsys.readouterr()
    data_dir = ["--data-dir", str(settings.data_dir)]
    assert cli.main(["replay", "--verify", "--service", "routing", *data_dir]) == 1
    assert f"SeverityAssessed {severity[0]} v{severity[1]}: timestamp" in capsys.readouterr().out


# --- intake: every use case a recorded command ------------------------------------------

INTAKE_COMMANDS = {
    "brand.register",
    "brand.issue_key",
    "brand.revoke_key",
    "complaint.receive",
    "complaint.act",
    "complaint.confirm",
    "complaint.withdraw",
    "regulator.register",
    "regulator.transfer",  # nonces are no input since issue 17 (test_regulator_nonces.py)
    "source.flag",
    "source.block",
    "webhook.subscribe",
    "webhook.unsubscribe",
    "webhook.attempt",
    "webhook.abandon",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Webhook retries in tens of milliseconds instead of seconds."""
    return settings.model_copy(update={"webhook_base_delay_s": 0.05, **LOCAL_RECEIVERS})


async def intake_traffic(intake: RunningService, receiver: Receiver) -> dict[str, str]:
    """Everything intake takes besides the lifecycle; returns the PII and secrets it saw."""
    brand = await register_brand(intake, "replay-more")
    admin = admin_headers(intake)
    rotated = await intake.client.post("/v1/admin/brands/replay-more/keys", headers=admin)
    assert rotated.status_code == 201, rotated.text
    key_id = rotated.json()["api_key"].split("_")[1]
    revoked = await intake.client.delete(
        f"/v1/admin/brands/replay-more/keys/{key_id}", headers=admin
    )
    assert revoked.status_code == 204, revoked.text

    hook = await intake.client.post(
        "/v1/webhooks",
        headers=brand,
        json={"url": receiver.url("/hook"), "event_types": ["ComplaintReceived"]},
    )
    assert hook.status_code == 201, hook.text
    gone = await intake.client.post(
        "/v1/webhooks",
        headers=brand,
        json={"url": receiver.url("/gone"), "event_types": ["ComplaintReceived"]},
    )
    assert gone.status_code == 201, gone.text

    consumer = {"name": "赵女士", "phone": "13611112222", "address": "上海市徐汇区漕溪北路 88 号"}
    body = complaint_body(consumer=consumer, order={"price_fen": 2990, "order_ref": "JD-77"})
    keyed = {**brand, "Idempotency-Key": "replay-key-1"}
    first = await intake.client.post("/v1/complaints", json=body, headers=keyed)
    retried = await intake.client.post("/v1/complaints", json=body, headers=keyed)
    assert (first.status_code, retried.status_code) == (201, 201), retried.text
    assert retried.json() == first.json()

    async def in_flight() -> bool:  # both first attempts hang at the receiver's gate
        return len(receiver.attempts) >= 2

    await eventually(in_flight, timeout=20, what="both webhooks' first attempts in flight")
    unsubscribed = await intake.client.delete(f"/v1/webhooks/{gone.json()['id']}", headers=brand)
    assert unsubscribed.status_code == 204  # its delivery fails, then is abandoned
    complaint_id = first.json()["complaint_id"]
    again = await intake.client.post("/v1/complaints", json=body, headers=brand)
    assert again.status_code == 200, again.text
    assert again.json()["duplicate_of"] == complaint_id
    confirmed = await intake.client.post(
        f"/v1/complaints/{complaint_id}/confirmation",
        headers=brand,
        json={"confirmed_via": "phone", "corrections": {"description": "冰箱完全不制冷"}},
    )
    assert confirmed.status_code == 200, confirmed.text

    nuisance = {"name": "钱先生", "phone": "13533334444"}
    other = await intake.client.post(
        "/v1/complaints", json=complaint_body(consumer=nuisance), headers=brand
    )
    assert other.status_code == 201, other.text
    withdrawn = await intake.client.post(
        f"/v1/complaints/{other.json()['complaint_id']}/withdrawal",
        headers=brand,
        json={"reason": "已自行解决"},
    )
    assert withdrawn.status_code == 202, withdrawn.text
    url = f"/v1/complaints/{other.json()['complaint_id']}"
    subject_ref = (await intake.client.get(url, headers=brand)).json()["subject_ref"]
    for action in ("nuisance", "block"):
        acted = await intake.client.post(
            f"/v1/ops/sources/{subject_ref}/{action}",
            headers=ops("supervisor", "replay-more"),
            json={"reason": "骚扰"},
        )
        assert acted.status_code == 200, acted.text
    for _ in range(2):  # refused and recorded; the retry under its key is refused again
        refused = await intake.client.post(
            "/v1/complaints",
            json=complaint_body(consumer=nuisance),
            headers={**brand, "Idempotency-Key": "replay-refused"},
        )
        assert refused.status_code == 403, refused.text

    secret = await register_regulator(intake, "replay-xbw")
    raw = transfer_body("replay-more", number="沪消保委-2026-0777")
    for _ in range(2):  # the same number twice is one complaint
        headers = signed(secret, "POST", TRANSFERS, raw, regulator_id="replay-xbw")
        posted = await intake.client.post(TRANSFERS, content=raw, headers=headers)
        assert posted.status_code in (200, 201), posted.text

    async def concluded(status: str, count: int) -> Any:
        params = {"status": status}
        url = "/v1/webhooks/deliveries"
        items = (await intake.client.get(url, headers=brand, params=params)).json()["items"]
        return items if len(items) >= count else None

    receiver.gate.set()
    await eventually(
        lambda: concluded("delivered", 2), timeout=20, what="deliveries after a failed attempt"
    )
    await eventually(lambda: concluded("abandoned", 1), timeout=20, what="a delivery abandoned")
    return {
        "phone": consumer["phone"],
        "name": consumer["name"],
        "address": consumer["address"],
        "regulator phone": "13700002222",
        "regulator secret": secret,
        "webhook secret": hook.json()["secret"],
        "api key": rotated.json()["api_key"],
        "brand key": brand["X-Api-Key"],
    }


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver(failures=1)
    async with serving(receiver.handle) as receiver.port:
        yield receiver
        receiver.gate.set()


async def test_intake_replays_exactly_and_records_no_plaintext_pii(
    service: Any, settings: Settings, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    running = await run_lifecycle(service, complaints=4)
    secrets = await intake_traffic(running[0], receiver)
    for started in running:
        await started.stop()

    report = verify("intake", settings)
    assert report.differences == [], [str(d) for d in report.differences]
    app: ServiceApplication = SPECS["intake"].application(env=live_env("intake", settings))
    try:
        recorded = [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(1, 100_000, topics=[COMMAND_TOPIC])
        ]
        names = Counter(getattr(r, "name") for r in recorded)  # noqa: B009
        assert set(names) >= INTAKE_COMMANDS, INTAKE_COMMANDS - set(names)
        assert names["webhook.attempt"] >= 3, names  # failed once, then delivered, twice
        assert report.inputs >= len(recorded) + 4, report.summary()
        everything = b"".join(
            n.state for n in app.recorder.select_notifications(1, 100_000)
        ).decode("utf-8", "replace")
    finally:
        app.close()
    for what, value in secrets.items():
        assert value not in everything, f"{what} stored in plaintext"
    for what, value in secrets.items():  # nor escaped as JSON would write it
        assert json.dumps(value)[1:-1] not in everything, f"{what} stored in plaintext"

    def other_description(state: dict[str, Any]) -> None:
        state["description"] = "tampered"

    received = tamper("intake", settings, "intake.Complaint.ComplaintReceived", other_description)
    altered = verify("intake", settings)
    assert [(d.aggregate_id, d.version, d.event_type, d.field) for d in altered.differences] == [
        (str(received[0]), received[1], "ComplaintReceived", "description")
    ]
    capsys.readouterr()
    data_dir = ["--data-dir", str(settings.data_dir)]
    assert cli.main(["replay", "--verify", "--service", "intake", *data_dir]) == 1
    assert f"ComplaintReceived {received[0]} v{received[1]}: description" in capsys.readouterr().out
