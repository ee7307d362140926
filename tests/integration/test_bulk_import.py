"""Regulator batch import: many signed transfers at once, each with the single path's outcome.

One recorded input per batch (`regulator.import`, consumers sealed), all complaints saved in
one transaction; a replay of the store stays exact, and the ComplaintReceived contracts are
published on INTAKE like any other complaint's [DOMAIN.md: 消协/12315 转办].
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

from services.intake.bulk import BATCH_PATH
from shared.inputs import COMMAND_TOPIC
from shared.settings import Settings
from tests.integration.test_regulator_transfers import (
    TRANSFERS,
    register_regulator,
    signed,
    transfer_body,
)
from tests.integration.test_replay import live_env, verify
from tests.platform import SPECS, RunningService, eventually, register_brand


def transfer(number: str, brand_id: str = "bathhouse", **complaint: Any) -> dict[str, Any]:
    """A valid transfer; `complaint` overrides parts of its complaint (consumer, order...)."""
    body: dict[str, Any] = json.loads(transfer_body(brand_id, number))
    body["complaint"].update(complaint)
    return body


def consumer(n: int) -> dict[str, str]:
    return {"name": "张女士", "phone": f"1370000{n:04d}"}


async def post_batch(
    intake: RunningService, secret: str, items: list[Any], **sign: Any
) -> Any:
    raw = json.dumps({"transfers": items}, ensure_ascii=False).encode()
    return await intake.client.post(
        BATCH_PATH, content=raw, headers=signed(secret, "POST", BATCH_PATH, raw, **sign)
    )


def mixed_batch(seed: int) -> tuple[list[Any], list[int]]:
    """New, invalid, repeated and unknown-brand transfers, shuffled; the expected statuses.

    Three consumers against one merchant form a group inside the batch; one consumer
    transfers twice (one consumer file, two cases).
    """
    rng = random.Random(seed)
    merchant = {"price_fen": 100000, "merchant": "海兰云天花园式浴场"}
    cases: list[tuple[Any, int]] = [
        (transfer(f"B-{n}", consumer=consumer(n % 4), order=merchant), 201) for n in range(8)
    ]
    cases += [
        (transfer("B-bad-phone", consumer={"name": "李", "phone": "x-private-x"}), 422),
        (transfer("B-no-brand", brand_id="no-such-brand", consumer=consumer(9)), 422),
        ({"transfer_number": "B-empty"}, 422),
        ("not an object", 422),
        (transfer("单笔-1", consumer=consumer(10)), 200),  # posted before on the single path
    ]
    rng.shuffle(cases)
    repeat = next(i for i, (_, status) in enumerate(cases) if status == 201)
    cases.append((cases[repeat][0], 200))  # the same number again, later in the batch
    return [c for c, _ in cases], [s for _, s in cases]


async def test_a_mixed_batch_gives_each_transfer_the_single_paths_outcome(
    service: Any, seed: int
) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    single = await intake.client.post(
        TRANSFERS,
        content=(raw := json.dumps(transfer("单笔-1", consumer=consumer(10))).encode()),
        headers=signed(secret, "POST", TRANSFERS, raw),
    )
    assert single.status_code == 201, single.text
    items, expected = mixed_batch(seed)

    posted = await post_batch(intake, secret, items)

    assert posted.status_code == 200, posted.text
    answer = posted.json()
    assert [r["status"] for r in answer["results"]] == expected
    assert (answer["created"], answer["existing"], answer["refused"]) == (8, 2, 4)
    by_number = {r["transfer_number"]: r for r in answer["results"]}
    assert by_number["单笔-1"]["complaint_id"] == single.json()["complaint_id"]
    assert by_number["B-no-brand"]["detail"].startswith("brand_id:")
    assert by_number["B-bad-phone"]["detail"].startswith("complaint.consumer.phone")
    assert "private" not in json.dumps(by_number["B-bad-phone"]["errors"])  # no input echoed

    created = [r["complaint_id"] for r in answer["results"] if r["status"] == 201]
    complaint = (await intake.client.get(f"/v1/complaints/{created[0]}", headers=brand)).json()
    assert complaint["channel"] == "regulator"
    assert complaint["regulator"]["transfer_number"].startswith("B-")
    assert complaint["group_id"] is not None  # 5 consumers against one bath house
    group = (await intake.client.get(f"/v1/groups/{complaint['group_id']}", headers=brand)).json()
    assert group["member_count"] == 9
    assert group["consumer_count"] == 5
    listed = (await intake.client.get("/v1/complaints?limit=50", headers=brand)).json()["items"]
    assert len(listed) == 9  # the eight and the single one

    again = await post_batch(intake, secret, items)  # idempotent: nothing new
    assert again.status_code == 200, again.text
    assert [r["status"] for r in again.json()["results"]] == [
        200 if s in (200, 201) else s for s in expected
    ]
    listed = (await intake.client.get("/v1/complaints?limit=50", headers=brand)).json()["items"]
    assert len(listed) == 9

    async def published() -> Any:
        bus = await intake.admin_bus()
        subjects = [m.subject for m in await bus.read_subject("INTAKE", "intake.>")]
        received = Counter(s.rsplit(".", 1)[-1] for s in subjects)
        return received if received["ComplaintReceived"] >= 9 else None

    received = await eventually(published, what="ComplaintReceived on INTAKE")
    assert received["ComplaintReceived"] == 9
    assert received["RegulatorTransferReceived"] == 9


async def test_after_a_batch_import_the_intake_store_replays_exactly_without_plaintext_pii(
    service: Any, settings: Settings, store: str
) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    merchant = {"price_fen": 100000, "merchant": "海兰云天花园式浴场"}
    # 120 cases in one group: its aggregate is snapshotted (every 100 events), so the
    # second batch loads it from the snapshot plus the events after it.
    first = [transfer(f"R-{n}", consumer=consumer(n % 5), order=merchant) for n in range(120)]
    second = [transfer(f"R-{n}", consumer=consumer(n % 7), order=merchant) for n in range(110, 130)]
    for items in (first, second):
        posted = await post_batch(intake, secret, items)
        assert posted.status_code == 200, posted.text
    assert posted.json()["created"] == 10
    assert posted.json()["existing"] == 10
    last = posted.json()["results"][-1]["complaint_id"]
    group_id = (await intake.client.get(f"/v1/complaints/{last}", headers=brand)).json()["group_id"]
    group = (await intake.client.get(f"/v1/groups/{group_id}", headers=brand)).json()
    assert group["member_count"] == 130
    await intake.stop()

    report = verify("intake", settings)

    assert report.differences == [], [str(d) for d in report.differences]
    app = SPECS["intake"].application(env=live_env("intake", settings))
    try:
        commands = app.recorder.select_notifications(1, 1000, topics=[COMMAND_TOPIC])
        imports = [c for c in commands if b"regulator.import" in c.state]
        assert len(imports) == (2 if store == "sqlite" else 3)  # PostgreSQL: 100 per command
        assert all(b"1370000" not in c.state and "张女士".encode() not in c.state for c in imports)
    finally:
        app.close()


async def test_forged_and_replayed_batch_requests_are_refused_like_single_ones(
    service: Any,
) -> None:
    intake = await service("intake")
    await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    items = [transfer("F-1")]
    raw = json.dumps({"transfers": items}).encode()

    forged = await post_batch(intake, "not-the-secret", items)
    headers = signed(secret, "POST", BATCH_PATH, raw)
    accepted = await intake.client.post(BATCH_PATH, content=raw, headers=headers)
    replayed = await intake.client.post(BATCH_PATH, content=raw, headers=headers)
    single_path = await intake.client.post(  # signed for the single path, not the batch
        BATCH_PATH, content=raw, headers=signed(secret, "POST", TRANSFERS, raw)
    )

    assert accepted.status_code == 200
    assert accepted.json()["created"] == 1
    for refused in (forged, replayed, single_path):
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert forged.content == replayed.content == single_path.content  # alike (issue 17)


async def test_an_empty_or_oversized_batch_is_refused_whole(service: Any) -> None:
    intake = await service("intake")
    secret = await register_regulator(intake)

    empty = await post_batch(intake, secret, [])
    oversized = await post_batch(intake, secret, [{}] * 5001)

    assert empty.status_code == 422, empty.text
    assert oversized.status_code == 413, oversized.text
    assert oversized.headers["content-type"] == "application/problem+json"


async def test_results_keep_the_batch_order_across_recorded_commands(service: Any) -> None:
    """On PostgreSQL a batch is recorded 100 transfers per command: results stay in order."""
    intake = await service("intake")
    await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    earlier = [transfer(f"O-{n}", consumer=consumer(n)) for n in range(0, 100, 2)]
    first = await post_batch(intake, secret, earlier)
    assert first.json()["created"] == 50

    items = [transfer(f"O-{n}", consumer=consumer(n)) for n in range(250)]
    posted = await post_batch(intake, secret, items)

    assert posted.status_code == 200, posted.text
    results = posted.json()["results"]
    assert [r["transfer_number"] for r in results] == [f"O-{n}" for n in range(250)]
    assert [r["status"] for r in results] == [
        200 if n < 100 and n % 2 == 0 else 201 for n in range(250)
    ]
    assert posted.json()["created"] == 200
