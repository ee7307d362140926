"""The OpenAPI documents say what the services answer: problem+json errors, and the generic
problems (413, 422, 429, 503) that middleware and handlers give on any operation."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from shared.errors import (
    PROBLEM_JSON,
    RATE_LIMITED_HEADERS,
    PayloadTooLarge,
    Problem,
    TooManyRequests,
)
from shared.security import REGULATOR_HEADER


def document_problems(app: FastAPI) -> None:
    """FastAPI documents its own 422 shape; ours is problem+json: say so in the schema, with
    the problems every operation may answer whatever its router says."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("Problem", Problem.model_json_schema())
        problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                invalid = operation.get("responses", {}).get("422")
                if invalid is not None and PROBLEM_JSON not in invalid.get("content", {}):
                    invalid["content"] = problem
                    invalid["description"] = "The request is not valid (fields named)"
                _document_rate_limit(operation, problem)
                if "requestBody" in operation:  # BodyLimitMiddleware answers for every path
                    operation["responses"].setdefault(
                        "413",
                        {"description": PayloadTooLarge.title, "content": problem},
                    )
                if path.startswith("/v1/"):
                    _document_generic_problems(operation, problem)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_rate_limit(operation: dict[str, Any], problem: dict[str, Any]) -> None:
    """429 on every operation whose caller is rate limited: API key, bearer token, regulator."""
    signed = any(p.get("name") == REGULATOR_HEADER for p in operation.get("parameters", ()))
    if not (operation.get("security") or signed):
        return
    operation.setdefault("responses", {}).setdefault(
        "429",
        {
            "description": TooManyRequests.title + " (per caller, see Retry-After)",
            "headers": RATE_LIMITED_HEADERS,
            "content": problem,
        },
    )


def _document_generic_problems(operation: dict[str, Any], problem: dict[str, Any]) -> None:
    """The problems any API operation may answer, whatever its router says (errors.py):
    422 for a body or parameter refused, 413 for a body over the limit, 429 (with
    `Retry-After`) when the caller is over its rate limit, 503 (with `Retry-After`) when
    the store had no connection free in time. 405 with `Allow` answers a
    method a path does not have: it belongs to no operation, so none documents it."""
    responses = operation.setdefault("responses", {})

    def add(status: str, description: str, **extra: Any) -> None:
        responses.setdefault(status, {"description": description, "content": problem, **extra})

    if operation.get("requestBody") or operation.get("parameters"):
        add("422", "The request is not valid (fields named)")
    if operation.get("requestBody"):
        add("413", "The request body is too large")
    retry_after = {
        "description": "Seconds until the caller may try again.",
        "schema": {"type": "integer", "minimum": 0},
    }
    add("429", "Too many requests", headers={"Retry-After": retry_after})
    add("503", "The store is busy: nothing was done", headers={"Retry-After": retry_after})
