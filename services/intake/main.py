"""Intake service entry point: `uvicorn --factory services.intake.main:build`."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake.api import admin, router
from services.intake.application import IntakeApplication
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

SPEC = ServiceSpec(
    name="intake",
    title="The front door: brand portals and regulator transfers",
    application=IntakeApplication,
    upstreams=("ROUTING", "COMPENSATION", "FOLLOWUP"),
    routers=(router, admin),
)


def build(settings: Settings | None = None) -> FastAPI:
    """The app factory (`uvicorn --factory services.intake.main:build`)."""
    return create_app(SPEC, settings)
