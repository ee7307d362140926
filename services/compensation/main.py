"""Compensation service entry point: `uvicorn --factory services.compensation.main:build`."""

from __future__ import annotations

from fastapi import FastAPI

from services.compensation.api import router
from services.compensation.application import CompensationApplication
from services.compensation.ops.api import router as ops_router
from services.compensation.policy_ops.api import router as policy_router
from shared.service import ServiceSpec, create_app
from shared.settings import Settings

SPEC = ServiceSpec(
    name="compensation",
    title="Apologises and offers remedies as the consumer's choice",
    application=CompensationApplication,
    upstreams=("INTAKE", "ROUTING"),
    routers=(router, ops_router, policy_router),
)


def build(settings: Settings | None = None) -> FastAPI:
    """The app factory (`uvicorn --factory services.compensation.main:build`)."""
    return create_app(SPEC, settings)
