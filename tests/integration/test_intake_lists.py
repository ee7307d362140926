"""Intake's lists are tables in its store (issue 15 point 5), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from shared.readmodels import Delete
from shared.settings import Settings
from tests.platform import complaint_body, register_brand, start_service


async def test_the_complaint_list_survives_a_restart_without_being_rebuilt(
    settings: Settings,
) -> None:
    intake = await start_service("intake", settings)
    try:
        brand = await register_brand(intake, "list-brand")
        posted = []
        for n in range(3):
            body = complaint_body(consumer={"name": "李先生", "phone": f"1380000{n:04d}"})
            response = await intake.client.post("/v1/complaints", json=body, headers=brand)
            assert response.status_code == 201, response.text
            posted.append(response.json()["complaint_id"])
    finally:
        await intake.stop()
    again = await start_service("intake", settings)
    try:
        listed = (await again.client.get("/v1/complaints", headers=brand)).json()
        assert [item["complaint_id"] for item in listed["items"]] == posted
        assert {item["status"] for item in listed["items"]} == {"received"}
        rows = again.runtime.application.read_models.count_rows("complaint_list", {})
        assert rows == 3
    finally:
        await again.stop()


async def test_a_cursor_the_list_did_not_hand_out_is_a_problem_not_a_crash(service: Any) -> None:
    intake = await service("intake")
    brand = await register_brand(intake, "cursor-brand")
    for path, cursor in [
        ("/v1/complaints", "2026-11-02T09:00:00|"),
        ("/v1/complaints", "yesterday|abc"),
        ("/v1/webhooks/deliveries", "not-a-cursor!"),
        ("/v1/webhooks/deliveries", "WzEsMl0"),
    ]:
        response = await intake.client.get(path, headers=brand, params={"cursor": cursor})
        assert response.status_code == 422, (path, cursor, response.text)
        assert response.json()["errors"][0]["loc"] == ["query", "cursor"]
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_store_from_before_the_list_table_is_backfilled_once_from_the_log(
    settings: Settings,
) -> None:
    intake = await start_service("intake", settings)
    try:
        brand = await register_brand(intake, "old-brand")
        posted = []
        for n in range(4):
            body = complaint_body(consumer={"name": "周女士", "phone": f"1370000{n:04d}"})
            response = await intake.client.post("/v1/complaints", json=body, headers=brand)
            assert response.status_code == 201, response.text
            posted.append(response.json()["complaint_id"])
        store = intake.runtime.application.read_models
        store.write([Delete("complaint_list", {"complaint_id": c}) for c in posted])
        assert (await intake.client.get("/v1/complaints", headers=brand)).json()["items"] == []
    finally:
        await intake.stop()
    again = await start_service("intake", settings)
    try:
        listed = (await again.client.get("/v1/complaints", headers=brand)).json()
        assert [item["complaint_id"] for item in listed["items"]] == posted
    finally:
        await again.stop()
