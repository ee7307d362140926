"""Intake's errors are one hierarchy under shared/errors.py, mapped to problem+json in one place.

Use cases and the domain raise them; no router catches them (STYLE.md rules 4 and 12).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.intake import errors
from services.intake.errors import IntakeError, OfferNotOpen, SourceBlocked
from shared.errors import PROBLEM_JSON, AftersalesError, install_problem_handlers
from shared.inputs import InputAlreadyRecorded

INTAKE_ERRORS = sorted(
    (
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, IntakeError) and cls.__module__ == errors.__name__
    ),
    key=lambda cls: cls.__name__,
)
# What a caller gets for each kind of refusal (the statuses the routes document).
CALLER_STATUSES = {401, 403, 404, 409, 422}


def test_the_hierarchy_is_seen_whole() -> None:
    assert len(INTAKE_ERRORS) >= 15
    assert OfferNotOpen in INTAKE_ERRORS


@pytest.mark.parametrize("error", INTAKE_ERRORS, ids=lambda cls: cls.__name__)
def test_every_intake_error_is_a_platform_problem_with_a_caller_status(
    error: type[IntakeError],
) -> None:
    assert issubclass(error, AftersalesError)
    abstract = error in (IntakeError, errors.WebhookError)
    assert abstract or error.status in CALLER_STATUSES, f"{error.__name__} maps to {error.status}"
    assert error.__doc__, f"{error.__name__} says what it refuses"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/offer")
    async def offer() -> None:
        raise OfferNotOpen("offer o-1 is no longer open: it is accepted", offer_status="accepted")

    @app.get("/source")
    async def source() -> None:
        raise SourceBlocked("source blocked", subject_ref="s-1")

    @app.get("/again")
    async def again() -> None:
        raise InputAlreadyRecorded("complaint.receive c-1 was recorded before")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        yield client


async def test_a_domain_refusal_becomes_problem_json_with_its_extras(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/offer")
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {
        "type": "https://aftersales.example/problems/conflict",
        "title": "Conflict with the current state",
        "status": 409,
        "detail": "offer o-1 is no longer open: it is accepted",
        "instance": "/offer",
        "offer_status": "accepted",
    }


async def test_a_blocked_source_is_a_403_naming_the_source(client: httpx.AsyncClient) -> None:
    response = await client.get("/source")
    assert response.status_code == 403
    assert response.json()["type"].endswith("/forbidden")
    assert response.json()["subject_ref"] == "s-1"


async def test_an_input_recorded_before_is_a_409_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/again")
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"].endswith("/conflict")
    assert "complaint.receive c-1 was recorded before" in response.json()["detail"]
