"""Followup service entry point: `uvicorn --factory services.followup.main:build`."""

from __future__ import annotations

from fastapi import FastAPI

from services.followup.api import router
from services.followup.application import FollowupApplication
from shared.calendar_api import calendar_router
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

SPEC = ServiceSpec(
    name="followup",
    title="Revisits, resolution and regulator report-back",
    application=FollowupApplication,
    upstreams=("INTAKE", "COMPENSATION"),  # it acts on nothing routing publishes
    routers=(router, calendar_router),
)


def build(settings: Settings | None = None) -> FastAPI:
    """The app factory (`uvicorn --factory services.followup.main:build`)."""
    return create_app(SPEC, settings)
