"""Free text leaves intake redacted; its original is sealed under the consumer's key.

Issue 17 item 4: phone numbers, ID numbers, e-mail addresses and the consumer's own name
typed into a description, a refusal reason, a read-back correction or a withdrawal reason
are masked in everything published (history reads the four streams) and in intake's own
log; the brand's own GET shows what was typed until the subject is erased.
"""

from __future__ import annotations

import json
from typing import Any

from services.intake.application import IntakeApplication
from shared.security import Role
from shared.settings import Settings
from tests.integration.test_bulk_import import post_batch, transfer
from tests.integration.test_consumer_actions import _types
from tests.integration.test_regulator_transfers import (
    post_transfer,
    register_regulator,
    transfer_body,
)
from tests.integration.test_replay import live_env, tamper, verify
from tests.platform import (
    RunningService,
    complaint_body,
    eventually,
    register_brand,
    token_for,
)

NAME = "林美华"
PHONE = "13812345678"
ID_NUMBER = "11010519491231002X"
EMAIL = "lin.meihua@example.com"
DESCRIPTION = (
    f"洗发水用后头皮过敏。我是{NAME}，电话 138 1234 5678，身份证{ID_NUMBER}，邮箱 {EMAIL}"
)
REASON = f"{NAME}不接受这个方案，请打 +86 138-1234-5678 联系"
CORRECTION = f"用后头皮红肿，回复到 {EMAIL}"
WITHDRAWAL = f"已和门店和解（{NAME}）"
PERSONAL = [NAME, "林美華", PHONE, "138 1234 5678", "138-1234-5678", ID_NUMBER, EMAIL]


def ops(role: Role, brand: str) -> dict[str, str]:
    return token_for(None, (role,), (brand,), sub="dpo", authority_fen=0)


def readable(text: str) -> list[str]:
    """The personal values found in `text`, as typed or as JSON escapes them."""
    return [v for v in PERSONAL if v in text or json.dumps(v)[1:-1] in text]


async def complaint_with_personal_free_text(
    intake: RunningService, brand: dict[str, str]
) -> tuple[str, str]:
    """A complaint whose every free-text field holds personal data: (id, subject ref)."""
    consumer = {"name": NAME, "phone": PHONE, "id_number": ID_NUMBER}
    body = complaint_body(consumer=consumer, description=DESCRIPTION)
    body["order"] = {"merchant": "美发店", "price_fen": 6900}
    posted = await intake.client.post("/v1/complaints", json=body, headers=brand)
    assert posted.status_code == 201, posted.text
    complaint_id = posted.json()["complaint_id"]
    url = f"/v1/complaints/{complaint_id}"
    confirmed = await intake.client.post(
        f"{url}/confirmation",
        headers=brand,
        json={"confirmed_via": "phone", "corrections": {"description": CORRECTION}},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert readable(confirmed.text) == []
    view = await _offered_again(intake, brand, complaint_id)
    rejected = await intake.client.post(
        f"{url}/consumer-actions",
        headers=brand,
        json={"action": "reject", "offer_id": view["offer"]["offer_id"], "reason": REASON},
    )
    assert rejected.status_code == 202, rejected.text
    await _types(intake, brand, complaint_id, "OfferRejected")
    withdrawn = await intake.client.post(
        f"{url}/withdrawal", headers=brand, json={"reason": WITHDRAWAL}
    )
    assert withdrawn.status_code == 202, withdrawn.text
    await _types(intake, brand, complaint_id, "ComplaintWithdrawn")
    return complaint_id, posted.json()["subject_ref"]


async def _offered_again(
    intake: RunningService, brand: dict[str, str], complaint_id: str
) -> dict[str, Any]:
    async def offered() -> Any:
        view = (await intake.client.get(f"/v1/complaints/{complaint_id}", headers=brand)).json()
        return view if view["offer_status"] == "open" else None

    found: dict[str, Any] = await eventually(offered, what="an open offer")
    return found


async def start_all(service: Any) -> RunningService:
    intake: RunningService = await service("intake")
    for name in ("routing", "compensation", "followup"):
        await service(name)
    return intake


def intake_log(settings: Settings) -> str:
    """Every stored event of intake, as stored (inputs, complaints, vault, read models' source)."""
    app = IntakeApplication(env=live_env("intake", settings))
    try:
        states = [n.state for n in app.recorder.select_notifications(1, 100_000)]
    finally:
        app.close()
    return b"".join(states).decode("utf-8", "replace")


async def test_free_text_leaves_intake_redacted_and_the_brand_reads_what_was_typed(
    service: Any, settings: Settings
) -> None:
    intake = await start_all(service)
    brand = await register_brand(intake, "acme")
    complaint_id, _ = await complaint_with_personal_free_text(intake, brand)

    history = await intake.client.get(f"/v1/complaints/{complaint_id}/history", headers=brand)
    events = {e["type"]: e["payload"] for e in history.json()["events"]}
    assert readable(history.text) == [], "personal data published"
    assert events["ComplaintReceived"]["description"] == (
        "洗发水用后头皮过敏。我是林**，电话 138****5678，身份证[身份证号]，邮箱 [邮箱]"
    )
    assert events["ComplaintDetailsConfirmed"]["corrections"] == {
        "description": "用后头皮红肿，回复到 [邮箱]"
    }
    assert events["ConsumerActed"]["reason"] == "林**不接受这个方案，请打 138****5678 联系"
    assert events["OfferRejected"]["reason"] == events["ConsumerActed"]["reason"]  # downstream
    assert events["ComplaintWithdrawn"]["reason"] == "已和门店和解（林**）"

    own = (await intake.client.get(f"/v1/complaints/{complaint_id}", headers=brand)).json()
    assert own["description"] == DESCRIPTION
    assert own["corrections"] == {"description": CORRECTION}
    assert own["free_text"] == "original"
    listed = await intake.client.get("/v1/complaints", headers=brand)
    assert readable(listed.text) == []

    await intake.stop()
    assert readable(intake_log(settings)) == [], "intake's log holds personal free text"
    for name in ("intake", "compensation"):
        report = verify(name, settings)
        assert report.differences == [], [str(d) for d in report.differences]


async def test_erasure_is_for_an_admin_of_the_subjects_brand_and_leaves_only_redacted_text(
    service: Any, settings: Settings
) -> None:
    intake = await start_all(service)
    brand = await register_brand(intake, "acme")
    await register_brand(intake, "globex")
    complaint_id, subject_ref = await complaint_with_personal_free_text(intake, brand)
    erasure = f"/v1/ops/subjects/{subject_ref}/erasure"

    assert (await intake.client.post(erasure, headers=ops("supervisor", "acme"))).status_code == 403
    assert (await intake.client.post(erasure, headers=ops("admin", "globex"))).status_code == 404
    unknown = "/v1/ops/subjects/00000000-0000-4000-8000-000000000000/erasure"
    assert (await intake.client.post(unknown, headers=ops("admin", "acme"))).status_code == 404
    erased = await intake.client.post(erasure, headers=ops("admin", "acme"))
    assert erased.status_code == 202, erased.text
    assert erased.json()["key_destroyed"] is True
    again = await intake.client.post(erasure, headers=ops("admin", "acme"))
    assert (again.status_code, again.json()["key_destroyed"]) == (202, False)

    own = (await intake.client.get(f"/v1/complaints/{complaint_id}", headers=brand)).json()
    assert own["free_text"] == "redacted"
    assert own["description"].startswith("洗发水用后头皮过敏。我是林**")
    assert readable(json.dumps(own, ensure_ascii=False)) == []
    history = await intake.client.get(f"/v1/complaints/{complaint_id}/history", headers=brand)
    assert history.status_code == 200
    assert {"ComplaintReceived", "OfferRejected", "ComplaintWithdrawn"} <= {
        e["type"] for e in history.json()["events"]
    }

    await intake.stop()
    report = verify("intake", settings)
    assert report.differences == [], [str(d) for d in report.differences]


async def test_events_stored_before_redaction_still_read_and_replay_exactly(
    service: Any, settings: Settings
) -> None:
    """Events written before `sealed_text` existed (tolerant reading: it defaults to none)."""
    intake = await service("intake")
    brand = await register_brand(intake, "acme")
    posted = await intake.client.post("/v1/complaints", json=complaint_body(), headers=brand)
    url = f"/v1/complaints/{posted.json()['complaint_id']}"
    steps = [
        ("confirmation", {"confirmed_via": "sms", "corrections": {"order.merchant": "国美"}}),
        ("withdrawal", {"reason": "已自行解决"}),
    ]
    for step, body in steps:
        assert (await intake.client.post(f"{url}/{step}", json=body, headers=brand)).is_success
    await intake.stop()
    for event_type in ("ComplaintReceived", "ComplaintDetailsConfirmed", "ComplaintWithdrawn"):
        topic = f"intake.Complaint.{event_type}"
        tamper("intake", settings, topic, lambda state: state.pop("sealed_text"))

    again = await service("intake")
    own = (await again.client.get(url, headers=brand)).json()
    assert (own["status"], own["free_text"]) == ("withdrawn", "original")
    assert own["description"] == complaint_body()["description"]
    assert own["corrections"] == {"order.merchant": "国美"}
    await again.stop()
    report = verify("intake", settings)
    assert report.differences == [], [str(d) for d in report.differences]


async def test_regulator_transfers_single_and_batch_are_redacted_and_the_brand_reads_them(
    service: Any, settings: Settings
) -> None:
    intake = await start_all(service)
    brand = await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    typed = f"会所更名后充值卡不能用。{NAME}，电话{PHONE}，邮箱{EMAIL}"
    details = {"consumer": {"name": NAME, "phone": PHONE}, "description": typed}
    raw = json.loads(transfer_body("bathhouse", "T-2"))
    raw["complaint"].update(details)
    one = await post_transfer(intake, secret, json.dumps(raw, ensure_ascii=False).encode())
    assert one.status_code == 201, one.text
    batch = [transfer(f"B-{n}", **details) for n in range(3)]
    posted = await post_batch(intake, secret, batch)
    assert posted.json()["created"] == 3, posted.text

    ids = [one.json()["complaint_id"], *(r["complaint_id"] for r in posted.json()["results"])]
    for complaint_id in ids:
        own = (await intake.client.get(f"/v1/complaints/{complaint_id}", headers=brand)).json()
        assert (own["description"], own["free_text"]) == (typed, "original")
        types = await _types(intake, brand, complaint_id, "ComplaintClassified")
        assert "RegulatorTransferReceived" in types
        history = await intake.client.get(
            f"/v1/complaints/{complaint_id}/history", headers=brand
        )
        assert readable(history.text) == []
        received = [e for e in history.json()["events"] if e["type"] == "ComplaintReceived"]
        assert received[0]["payload"]["description"] == (
            "会所更名后充值卡不能用。林**，电话138****5678，邮箱[邮箱]"
        )
    await intake.stop()
    assert readable(intake_log(settings)) == []
    report = verify("intake", settings)
    assert report.differences == [], [str(d) for d in report.differences]
