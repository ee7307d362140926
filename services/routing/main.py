"""Routing service entry point: `uvicorn --factory services.routing.main:build`."""

from __future__ import annotations

from fastapi import FastAPI

from services.routing.api import router
from services.routing.application import RoutingApplication
from services.routing.ops.api import router as ops_router
from services.routing.sla_app import sla_scheduler
from services.routing.sla_ops.api import router as sla_router
from shared.calendar_api import calendar_router
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

SPEC = ServiceSpec(
    name="routing",
    title="Classifies, assesses and routes complaints to a named handler",
    application=RoutingApplication,
    upstreams=("INTAKE", "COMPENSATION", "FOLLOWUP"),
    routers=(router, ops_router, sla_router, calendar_router),
    background=(sla_scheduler,),
)


def build(settings: Settings | None = None) -> FastAPI:
    """The app factory (`uvicorn --factory services.routing.main:build`)."""
    return create_app(SPEC, settings)
