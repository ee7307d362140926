"""`aftersales replay --verify` after the lifecycle, on SQLite and PostgreSQL.

Routing, compensation and followup rebuilt from their recorded inputs into a scratch
store equal their live stores event for event (ids, versions, payloads, timestamps);
a stored event altered behind the services' backs makes the verification fail and
name that event and field.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest

from shared import cli
from shared.replay import ReplayReport, verify_replay
from shared.settings import Settings, application_secrets, persistence_env
from shared.store import ServiceApplication
from tests.platform import SPECS, RunningService, complaint_body, eventually, register_brand

REPLAYABLE = ("routing", "compensation", "followup")


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
    assert [line.split(",")[-1] for line in out.out.splitlines()] == [" exact"] * 3
    assert "intake: not replayable yet (inputs not recorded)" in out.err
    assert cli.main(["replay", "--verify", "--service", "intake"]) == 2

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
