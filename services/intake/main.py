"""Intake service entry point: `uvicorn --factory services.intake.main:build`."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake.api import admin, router
from services.intake.application import IntakeApplication
from services.intake.bulk import BATCH_PATH, MAX_BATCH_BODY_BYTES
from services.intake.regulators import prune_regulator_nonces
from services.intake.webhooks.api import router as webhooks
from services.intake.webhooks.worker import deliver_webhooks
from shared.calendar_api import calendar_router
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

SPEC = ServiceSpec(
    name="intake",
    title="The front door: brand portals and regulator transfers",
    application=IntakeApplication,
    # INTAKE too: intake fans its own published events out to brand webhooks.
    upstreams=("INTAKE", "ROUTING", "COMPENSATION", "FOLLOWUP"),
    routers=(router, admin, webhooks, calendar_router),
    background=(deliver_webhooks, prune_regulator_nonces),
    body_limits={BATCH_PATH: MAX_BATCH_BODY_BYTES},
)


def build(settings: Settings | None = None) -> FastAPI:
    """The app factory (`uvicorn --factory services.intake.main:build`)."""
    return create_app(SPEC, settings)
