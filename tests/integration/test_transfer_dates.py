"""Regulator transfers count their deadline from the regulator's transfer date, on China's
working-day calendar; a count running into a year without official data is provisional and
is revised when that year is loaded (issue 18).

The 2026 dates are those of 国务院办公厅关于2026年部分节假日安排的通知 (packaged in
shared/data/china_workdays.json): 中秋 9月25日–27日 off; 国庆 10月1日–7日 off; Sunday
9月20日 and Saturday 10月10日 are make-up working days (调休).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.calendar import business_date
from shared.replay import verify_replay
from shared.settings import Settings, application_secrets, persistence_env
from tests.integration.test_regulator_transfers import (
    TRANSFERS,
    post_transfer,
    register_regulator,
    signed,
    transfer_body,
)
from tests.platform import SPECS, RunningService, admin_headers, eventually, register_brand

SHANGHAI = ZoneInfo("Asia/Shanghai")
BATCH = f"{TRANSFERS}/batch"
# A schedule for 2027 as a test loads it (the State Council had not published it yet).
YEAR_2027 = {
    "holidays": {"2027-01-01": "元旦", "2027-01-02": "元旦", "2027-01-03": "元旦"},
    "workdays": [],
    "source": "test: 2027 New Year only",
}


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59, 999999), tzinfo=SHANGHAI)


async def transfer_view(intake: RunningService, secret: str, number: str) -> Any:
    path = f"{TRANSFERS}/{number}"
    response = await intake.client.get(path, headers=signed(secret, "GET", path))
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_transfer_dated_the_friday_before_the_national_day_make_up_sunday_counts_the_law(
    service: Any,
) -> None:
    """Transferred on Friday 2026-09-18 with 10 working days: the make-up Sunday 9月20日
    counts (1), 21–24 (2–5), 中秋 25–27 does not, 28–30 (6–8), 国庆 10月1–7 does not,
    10月8–9 (9–10): due by the end of Friday 2026-10-09 in Shanghai. Plain Monday–Friday
    arithmetic would say 2026-10-02, a day of the National Day holiday."""
    intake = await service("intake")
    brand = await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    raw = transfer_body(
        "bathhouse", "沪消保委-2026-0918", deadline_working_days=10, transferred_on="2026-09-18"
    )

    posted = await post_transfer(intake, secret, raw)

    assert posted.status_code == 201, posted.text
    transfer = posted.json()
    assert transfer["transferred_on"] == "2026-09-18"
    assert datetime.fromisoformat(transfer["deadline_at"]) == end_of_day(date(2026, 10, 9))
    assert transfer["deadline_provisional"] is False
    assert await transfer_view(intake, secret, "沪消保委-2026-0918") == transfer

    async def history() -> Any:
        path = f"/v1/complaints/{transfer['complaint_id']}/history"
        events = (await intake.client.get(path, headers=brand)).json()["events"]
        return events if len(events) >= 2 else None

    received, recorded = (await eventually(history, what="the transfer's events"))[:2]
    assert received["payload"]["regulator"]["transferred_on"] == "2026-09-18"
    assert recorded["payload"]["transferred_on"] == "2026-09-18"
    assert recorded["payload"]["deadline_provisional"] is False


async def test_a_transfer_without_a_date_counts_from_the_day_it_is_received(
    service: Any,
) -> None:
    intake = await service("intake")
    await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)

    posted = await post_transfer(intake, secret, transfer_body("bathhouse"))

    assert posted.status_code == 201, posted.text
    transfer = posted.json()
    received = business_date(datetime.fromisoformat(transfer["received_at"]))
    assert transfer["transferred_on"] == received.isoformat()  # recorded as such


async def test_a_future_or_absurd_transfer_date_is_refused_naming_the_field(
    service: Any,
) -> None:
    intake = await service("intake")
    await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    today = business_date(datetime.now(UTC))
    refused = {
        "after tomorrow": (today + timedelta(days=2)).isoformat(),
        "before 2000": "1999-12-31",
        "year 9999": "9999-12-31",
        "no such day": "2026-02-30",
        "not a date": "2026-9-18",
        "a number": 1758153600,
    }
    for number, (why, value) in enumerate(refused.items()):
        raw = transfer_body("bathhouse", f"T-{number}", transferred_on=value)
        response = await post_transfer(intake, secret, raw)
        assert response.status_code == 422, (why, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == ["body", "transferred_on"], why

    tomorrow = transfer_body("bathhouse", "T-ok", transferred_on=str(today + timedelta(days=1)))
    assert (await post_transfer(intake, secret, tomorrow)).status_code == 201


async def test_the_batch_import_carries_each_transfer_date_and_refuses_a_future_one(
    service: Any,
) -> None:
    intake = await service("intake")
    await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    future = (business_date(datetime.now(UTC)) + timedelta(days=30)).isoformat()
    items = [
        json.loads(
            transfer_body(
                "bathhouse", "B-1", deadline_working_days=10, transferred_on="2026-09-18"
            )
        ),
        json.loads(transfer_body("bathhouse", "B-2", transferred_on=future)),
    ]
    raw = json.dumps({"transfers": items}, ensure_ascii=False).encode()

    headers = signed(secret, "POST", BATCH, raw)
    response = await intake.client.post(BATCH, content=raw, headers=headers)

    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["status"] == 201
    assert second["status"] == 422
    assert second["errors"][0]["loc"] == ["body", "transfers", 1, "transferred_on"]
    view = await transfer_view(intake, secret, "B-1")
    assert view["transferred_on"] == "2026-09-18"
    assert datetime.fromisoformat(view["deadline_at"]) == end_of_day(date(2026, 10, 9))


async def test_a_deadline_into_an_unknown_year_is_provisional_and_revised_when_it_is_loaded(
    service: Any, settings: Settings
) -> None:
    """Transferred Friday 2026-11-20 with 30 working days: 11月23日–12月31日 are 29 (no
    holiday left in 2026), then 2027 has no official data: Friday 2027-01-01 is assumed a
    working day, so the deadline is provisional. Once 2027 is loaded with 元旦 1月1日–3日
    off, it is recounted: Monday 2027-01-04, no longer provisional."""
    intake = await service("intake")
    await register_brand(intake, "bathhouse")
    secret = await register_regulator(intake)
    raw = transfer_body(
        "bathhouse", "12315-2026-1120", deadline_working_days=30, transferred_on="2026-11-20"
    )
    posted = await post_transfer(intake, secret, raw)
    assert posted.status_code == 201, posted.text
    assert datetime.fromisoformat(posted.json()["deadline_at"]) == end_of_day(date(2027, 1, 1))
    assert posted.json()["deadline_provisional"] is True

    loaded = await intake.client.put(
        "/v1/calendar/years/2027", json=YEAR_2027, headers=admin_headers(intake)
    )
    assert loaded.status_code == 201, loaded.text
    assert loaded.json()["recorded"] is True

    view = await transfer_view(intake, secret, "12315-2026-1120")
    assert datetime.fromisoformat(view["deadline_at"]) == end_of_day(date(2027, 1, 4))
    assert view["deadline_provisional"] is False
    (revision,) = view["deadline_revisions"]
    assert datetime.fromisoformat(revision["previous_deadline_at"]) == end_of_day(date(2027, 1, 1))
    assert revision["loaded_year"] == 2027
    assert revision["calendar_version"] == loaded.json()["calendar_version"]

    again = await intake.client.put(
        "/v1/calendar/years/2027", json=YEAR_2027, headers=admin_headers(intake)
    )
    assert (again.status_code, again.json()["recorded"]) == (200, False)  # idempotent
    assert (await transfer_view(intake, secret, "12315-2026-1120")) == view

    # A transfer received after the load counts with 2027 at once.
    late = transfer_body(
        "bathhouse", "12315-2026-1120b", deadline_working_days=30, transferred_on="2026-11-20"
    )
    counted = (await post_transfer(intake, secret, late)).json()
    assert (counted["deadline_at"], counted["deadline_provisional"]) == (view["deadline_at"], False)

    env = {**persistence_env("intake", settings), **application_secrets(settings)}
    report = verify_replay("intake", SPECS["intake"].application, env)
    assert report.exact, [str(d) for d in report.differences]


async def test_a_loaded_year_survives_a_restart(service: Any, settings: Settings) -> None:
    intake = await service("intake")
    loaded = await intake.client.put(
        "/v1/calendar/years/2027", json=YEAR_2027, headers=admin_headers(intake)
    )
    assert loaded.status_code == 201, loaded.text
    await intake.stop()

    restarted = await service("intake")
    years = (await restarted.client.get("/v1/calendar/years", headers=admin_headers(restarted)))
    known = {y["year"]: y for y in years.json()["years"]}
    assert known[2027]["origin"] == "loaded"
    assert years.json()["calendar_version"] == loaded.json()["calendar_version"]
