"""What schemathesis found (issue 17), pinned: each of these failed before its fix.

- 405 without `Allow`, or an `Allow` naming only one of the path's methods;
- 400 (undocumented) for a body that is not UTF-8 JSON: now 422 like every invalid request;
- `?since=0.5` taken as a date-time; `"1"`, `1.5`, `true` taken as integers, `0` as a
  boolean, a number as a date;
- schema-valid bodies refused: a phone number the schema did not constrain, event types
  it did not enumerate;
- DELETE /v1/webhooks/deliveries routed to DELETE /v1/webhooks/{id} (422, not 405);
- a store with no free connection answered 500.

The app runs in-process without its lifespan: every case here is refused before a route
reaches the store (or, for the 503, the route is a test one).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import phonenumbers
import pytest
from eventsourcing.persistence import ConnectionUnavailableError
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake import deps
from services.intake.main import SPEC as INTAKE
from services.intake.schemas import PHONE_PATTERN, ConsumerIn, OrderIn
from services.intake.webhooks.api import URL_PATTERN, NewSubscription
from shared.contracts import PAYLOADS
from shared.service import create_app
from shared.settings import Settings

KEY = {"X-Api-Key": "ask_x_y"}


@pytest.fixture
def intake(tmp_path: Path) -> FastAPI:
    return create_app(INTAKE, Settings(environment="test", data_dir=tmp_path))


@pytest.fixture
async def client(intake: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=intake, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/v1/admin/brands", "GET, POST"),
        ("TRACE", "/v1/complaints", "GET, POST"),
        ("PUT", "/v1/webhooks", "GET, POST"),
        ("DELETE", "/v1/webhooks/deliveries", "GET"),
        ("TRACE", "/v1/webhooks/3fa85f64-5717-4562-b3fc-2c963f66afa6", "DELETE"),
        ("POST", "/healthz", "GET"),
    ],
)
async def test_a_method_the_path_lacks_is_405_naming_every_method_it_has(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("body", [b"\xff\x16", b"r(\xe9", b'{"brand_id": "a\xff"}'])
async def test_a_body_that_is_not_utf8_json_is_422_never_400(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/v1/admin/brands", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["loc"] == ["body"]
    assert problem["errors"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("since", ["0.5", "1700000000", "-3", "1e9"])
async def test_since_is_a_date_time_not_a_number(
    intake: FastAPI, client: httpx.AsyncClient, since: str
) -> None:
    # The brand and the application are resolved before the query: stand them in.
    intake.dependency_overrides[deps.brand_id] = lambda: "brand"
    intake.dependency_overrides[deps.App.__metadata__[0].dependency] = lambda: None
    response = await client.get("/v1/complaints", params={"since": since}, headers=KEY)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "since"]


@pytest.mark.parametrize(
    "order",
    [
        {"price_fen": "100"},
        {"price_fen": True},
        {"price_fen": 1.5},
        {"price_fen": -1},
        {"purchase_date": 0},
        {"purchase_date": "1700000000"},
    ],
)
def test_numbers_and_dates_are_what_the_schema_says(order: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="validation error"):
        OrderIn.model_validate(order)


def test_an_integral_float_is_an_integer_as_json_schema_says() -> None:
    assert OrderIn.model_validate({"price_fen": 12.0}).price_fen == 12


def test_the_phone_pattern_is_in_the_schema_and_its_rule_is_named() -> None:
    schema = ConsumerIn.model_json_schema()["properties"]["phone"]
    assert schema["pattern"] == PHONE_PATTERN
    with pytest.raises(ValueError, match="not a mainland China") as refused:
        ConsumerIn(name="王", phone="12345")
    assert PHONE_PATTERN not in str(refused.value)  # the rule, not a 1 KB regex


@settings(max_examples=300, suppress_health_check=list(HealthCheck), database=None)
@given(st.from_regex(PHONE_PATTERN, fullmatch=True))
def test_every_number_the_schema_allows_is_accepted(phone: str) -> None:
    accepted = ConsumerIn(name="王", phone=phone).phone
    assert phonenumbers.is_valid_number(phonenumbers.parse(accepted))


@settings(max_examples=200, suppress_health_check=list(HealthCheck), database=None)
@given(st.from_regex(URL_PATTERN, fullmatch=True), st.sampled_from(sorted(PAYLOADS)))
def test_every_webhook_the_schema_allows_is_accepted(url: str, event_type: str) -> None:
    NewSubscription(url=url, event_types=[event_type])


def test_webhook_event_types_are_enumerated_in_the_schema() -> None:
    items = NewSubscription.model_json_schema()["properties"]["event_types"]["items"]
    assert items["enum"] == sorted(PAYLOADS)
    assert re.fullmatch(URL_PATTERN, "https://hooks.example.com/aftersales?x=1")


async def test_a_busy_store_is_503_with_retry_after_not_500(intake: FastAPI) -> None:
    @intake.get("/v1/test-busy")
    async def busy() -> None:
        raise ConnectionUnavailableError("Timed out waiting for return of writer")

    transport = httpx.ASGITransport(app=intake, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        response = await client.get("/v1/test-busy")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"].startswith("application/problem+json")


def test_every_api_operation_documents_429_and_a_body_413(intake: FastAPI) -> None:
    schema = intake.openapi()
    for path, operations in schema["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "429" in responses, f"{method} {path}"
            assert "Retry-After" in responses["429"]["headers"]
            if "requestBody" in operation:
                assert {"413", "422"} <= set(responses), f"{method} {path}"
    json.dumps(schema)  # serialisable as served
