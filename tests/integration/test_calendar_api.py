"""The working-day calendar over HTTP (intake, routing, followup) and `aftersales calendar`.

The 2026 dates are those of 国务院办公厅关于2026年部分节假日安排的通知 (packaged in
shared/data/china_workdays.json): 中秋 9月25日–27日 and 国庆 10月1日–7日 off, Sunday
9月20日 and Saturday 10月10日 worked (调休).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from shared import cli
from shared.replay import verify_replay
from shared.settings import Settings, application_secrets, persistence_env
from tests.platform import SPECS, TEST_SECRETS, RunningService, admin_headers, ops_token
from tests.servers import free_port

WORKING_DAYS = "/v1/calendar/working-days"
YEAR_2027 = {
    "holidays": {"2027-01-01": "元旦", "2027-01-02": "元旦", "2027-01-03": "元旦"},
    "workdays": ["2027-01-09"],
    "source": "test: 2027 New Year, make-up Saturday 1月9日",
}


async def test_the_working_days_of_the_2026_national_day_weeks_count_the_make_up_days(
    service: Any,
) -> None:
    """2026-09-14 to 2026-10-11, counted by hand: 9月14–18 (5), Sunday 20 (调休, 1),
    21–24 (4), 28–30 (3), 10月8–9 (2), Saturday 10 (调休, 1): 16 working days."""
    intake = await service("intake")
    viewer = ops_token(intake, ("viewer",), ("some-brand",))

    response = await intake.client.get(
        WORKING_DAYS, params={"from": "2026-09-14", "to": "2026-10-11"}, headers=viewer
    )

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["count"] == 16
    days = answer["working_days"]
    assert len(days) == 16
    assert {"2026-09-20", "2026-10-10"} <= set(days)  # Sunday and Saturday worked
    assert not {"2026-09-25", "2026-10-01", "2026-10-07", "2026-10-11"} & set(days)
    assert answer["years"] == [{"year": 2026, "basis": "official"}]
    assert (answer["from"], answer["to"]) == ("2026-09-14", "2026-10-11")


async def test_a_range_into_an_unknown_year_says_monday_to_friday_was_assumed(
    service: Any,
) -> None:
    routing = await service("routing")  # every service that counts working days serves it
    viewer = ops_token(routing, ("viewer",), ("*",))

    response = await routing.client.get(
        WORKING_DAYS, params={"from": "2026-12-31", "to": "2027-01-04"}, headers=viewer
    )

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["working_days"] == ["2026-12-31", "2027-01-01", "2027-01-04"]
    assert answer["years"] == [
        {"year": 2026, "basis": "official"},
        {"year": 2027, "basis": "mon_fri_assumed"},
    ]


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"from": "2026-01-01", "to": "2027-01-02"}, "to"),  # 367 days
        ({"from": "2026-10-02", "to": "2026-10-01"}, "to"),  # backwards
        ({"from": "1758153600", "to": "2026-10-01"}, "from"),  # a number, not a date
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),  # no such day
        ({"from": "2026-01-01"}, "to"),  # missing
    ],
    ids=["367-days", "backwards", "number", "no-such-day", "missing"],
)
async def test_a_range_the_endpoint_cannot_serve_is_422_naming_the_parameter(
    service: Any, params: dict[str, str], where: str
) -> None:
    intake = await service("intake")
    response = await intake.client.get(WORKING_DAYS, params=params, headers=admin_headers(intake))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert ["query", where] in [e["loc"][:2] for e in response.json()["errors"]]


async def test_a_366_day_range_and_the_last_day_of_the_calendar_are_served(service: Any) -> None:
    intake = await service("intake")
    headers = admin_headers(intake)
    leap = await intake.client.get(
        WORKING_DAYS, params={"from": "2028-01-01", "to": "2028-12-31"}, headers=headers
    )
    end = await intake.client.get(
        WORKING_DAYS, params={"from": "9999-12-01", "to": "9999-12-31"}, headers=headers
    )
    assert leap.status_code == 200, leap.text
    assert end.status_code == 200, end.text
    assert end.json()["count"] == 23  # Monday to Friday assumed


async def test_only_an_admin_for_all_brands_loads_a_year(service: Any) -> None:
    intake = await service("intake")
    path = "/v1/calendar/years/2027"
    viewer = ops_token(intake, ("viewer",), ("*",))
    brand_admin = ops_token(intake, ("admin",), ("bathhouse",))

    anonymous = await intake.client.put(path, json=YEAR_2027)
    as_viewer = await intake.client.put(path, json=YEAR_2027, headers=viewer)
    as_brand_admin = await intake.client.put(path, json=YEAR_2027, headers=brand_admin)
    as_viewer_get = await intake.client.get("/v1/calendar/years", headers=viewer)

    assert anonymous.status_code == 401
    assert (as_viewer.status_code, as_brand_admin.status_code) == (403, 403)
    assert as_viewer_get.status_code == 200
    assert 2027 not in [y["year"] for y in as_viewer_get.json()["years"]]


async def test_the_years_known_say_their_source_and_who_loaded_one(service: Any) -> None:
    followup = await service("followup")
    admin = ops_token(followup, ("admin",), ("*",), sub="li.na")

    before = (await followup.client.get("/v1/calendar/years", headers=admin)).json()
    loaded = await followup.client.put("/v1/calendar/years/2027", json=YEAR_2027, headers=admin)
    after = (await followup.client.get("/v1/calendar/years", headers=admin)).json()

    assert loaded.status_code == 201, loaded.text
    packaged = {y["year"]: y for y in before["years"]}
    assert set(packaged) == set(range(2004, 2027))
    assert packaged[2026]["origin"] == "packaged"
    assert "chinese-calendar 1.11.0" in packaged[2026]["source"]
    assert packaged[2026]["workdays"] == 6
    known = {y["year"]: y for y in after["years"]}
    assert known[2027]["origin"] == "loaded"
    assert known[2027]["source"] == YEAR_2027["source"]
    assert known[2027]["loaded_by"] == "li.na"
    assert known[2027]["loaded_at"] is not None
    assert (known[2027]["holidays"], known[2027]["workdays"]) == (3, 1)
    assert after["calendar_version"] == loaded.json()["calendar_version"]
    assert after["calendar_version"] != before["calendar_version"]
    saturday = await followup.client.get(
        WORKING_DAYS, params={"from": "2027-01-01", "to": "2027-01-10"}, headers=admin
    )
    assert saturday.json()["working_days"] == [
        "2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07", "2027-01-08", "2027-01-09",
    ]  # fmt: skip
    assert saturday.json()["years"] == [{"year": 2027, "basis": "official"}]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"holidays": ["2028-01-01"]}, ["body", "holidays", "2028-01-01"]),
        ({"workdays": ["2027-01-01"]}, ["body", "workdays", "2027-01-01"]),  # both
        ({"workdays": ["2027-01-08"]}, ["body", "workdays", "2027-01-08"]),  # a Friday
        ({"holidays": []}, ["body", "holidays"]),
        ({"holidays": ["2027-1-1"]}, ["body", "holidays"]),
        ({"source": ""}, ["body", "source"]),
    ],
    ids=[
        "outside-year", "holiday-and-workday", "weekday-make-up", "no-holiday", "bad-date",
        "no-source",
    ],
)
async def test_a_year_document_that_cannot_be_right_is_refused_naming_the_date(
    service: Any, change: dict[str, Any], where: list[str]
) -> None:
    intake = await service("intake")
    response = await intake.client.put(
        "/v1/calendar/years/2027", json={**YEAR_2027, **change}, headers=admin_headers(intake)
    )
    assert response.status_code == 422, response.text
    locs = [e["loc"] for e in response.json()["errors"]]
    assert any(loc[: len(where)] == where for loc in locs), locs
    years = (await intake.client.get("/v1/calendar/years", headers=admin_headers(intake))).json()
    assert 2027 not in [y["year"] for y in years["years"]]


async def test_a_year_replaced_and_then_put_back_is_recorded_each_time_and_replays(
    service: Any, settings: Settings
) -> None:
    """A correction, then the first schedule again: three loads, not a clash of ids."""
    intake = await service("intake")
    path, admin = "/v1/calendar/years/2027", admin_headers(intake)
    corrected = {**YEAR_2027, "holidays": ["2027-01-01"], "source": "test: corrected"}

    first = await intake.client.put(path, json=YEAR_2027, headers=admin)
    second = await intake.client.put(path, json=corrected, headers=admin)
    third = await intake.client.put(path, json=YEAR_2027, headers=admin)

    assert [r.status_code for r in (first, second, third)] == [201, 200, 200], third.text
    assert [r.json()["recorded"] for r in (first, second, third)] == [True, True, True]
    assert third.json()["calendar_version"] == first.json()["calendar_version"]
    years = (await intake.client.get("/v1/calendar/years", headers=admin)).json()
    assert {y["year"]: y for y in years["years"]}[2027]["source"] == YEAR_2027["source"]
    env = {**persistence_env("intake", settings), **application_secrets(settings)}
    report = verify_replay("intake", SPECS["intake"].application, env)
    assert report.exact, [str(d) for d in report.differences]


async def test_a_year_outside_the_range_served_is_422(service: Any) -> None:
    intake = await service("intake")
    response = await intake.client.put(
        "/v1/calendar/years/1999", json=YEAR_2027, headers=admin_headers(intake)
    )
    assert response.status_code == 422


# --- the CLI against running services ----------------------------------------------------------


async def serve_http(running: RunningService) -> tuple[str, asyncio.Task[None], uvicorn.Server]:
    """The in-process service on a real loopback port (its lifespan already runs)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(running.app, host="127.0.0.1", port=port, lifespan="off", log_level="error")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return f"http://127.0.0.1:{port}", task, server


async def test_the_cli_loads_a_year_into_every_calendar_service_and_shows_it(
    service: Any,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AFTERSALES_TOKEN_KEY", TEST_SECRETS["token_key"])
    running = [await service(name) for name in ("intake", "routing", "followup")]
    served = [await serve_http(r) for r in running]
    urls = [f"--url={r.name}={url}" for r, (url, _, _) in zip(running, served, strict=True)]
    year_file = tmp_path / "2027.json"
    year_file.write_text(json.dumps(YEAR_2027, ensure_ascii=False), encoding="utf-8")
    try:
        loaded = await asyncio.to_thread(
            cli.main, ["calendar", "load", "--year", "2027", str(year_file), *urls]
        )
        again = await asyncio.to_thread(
            cli.main, ["calendar", "load", "--year", "2027", str(year_file), *urls]
        )
        shown = await asyncio.to_thread(cli.main, ["calendar", "show", *urls])
        counted = await asyncio.to_thread(
            cli.main, ["calendar", "working-days", "2027-01-01", "2027-01-10", *urls]
        )
        missing = await asyncio.to_thread(
            cli.main, ["calendar", "load", "--year", "2027", str(tmp_path / "nope.json"), *urls]
        )
    finally:
        for _, task, server in served:
            server.should_exit = True
            await task
    out = capsys.readouterr()
    assert (loaded, again, shown, counted, missing) == (0, 0, 0, 0, 2)
    assert out.out.count("loaded (calendar cn-") == 3
    assert out.out.count("already held these days") == 3
    assert "2027: 3 of 3 services have it" in out.out
    assert out.out.count("2027  loaded") == 3
    assert "by aftersales-cli" in out.out
    assert "6 working days from 2027-01-01 to 2027-01-10 (2027 official)" in out.out
    assert "nope.json" in out.err
    for r in running:
        known = (await r.client.get("/v1/calendar/years", headers=admin_headers(r))).json()
        assert 2027 in [y["year"] for y in known["years"]], r.name
