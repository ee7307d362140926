"""One exception hierarchy for the platform, mapped to RFC 9457 problem+json in one place.

Domain and application code raise these; routers never build error responses by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.inputs import InputAlreadyRecorded

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://aftersales.example/problems/"
log = logging.getLogger("aftersales.errors")


class Problem(BaseModel):
    """An RFC 9457 problem detail, as every error response of the platform."""

    type: str = Field(examples=[PROBLEM_BASE + "not-found"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Field errors: where (`loc`) and what (`msg`)."
    )


class AftersalesError(Exception):
    """Base of every error the platform reports to a caller."""

    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extra = extra


class BadRequest(AftersalesError):
    status, slug, title = 400, "bad-request", "The request is not valid"


class Unauthorized(AftersalesError):
    status, slug, title = 401, "unauthorized", "Authentication is required"


class Forbidden(AftersalesError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(AftersalesError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AftersalesError):
    status, slug, title = 409, "conflict", "Conflict with the current state"


class PayloadTooLarge(AftersalesError):
    status, slug, title = 413, "payload-too-large", "The request body is too large"


class Unprocessable(AftersalesError):
    status, slug, title = 422, "validation", "The request body is not valid"


class TooManyRequests(AftersalesError):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.headers = headers or {}


class Unavailable(AftersalesError):
    status, slug, title = 503, "unavailable", "The service is not ready"


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str | None,
    instance: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json errors."""
    titles = {cls.status: cls.title for cls in _all_errors()}
    titles.setdefault(422, Unprocessable.title)
    documented: dict[int | str, dict[str, Any]] = {
        status: {
            "model": Problem,
            "description": titles.get(status, "Error"),
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }
    if 429 in documented:
        documented[429]["headers"] = RATE_LIMITED_HEADERS
    return documented


RATE_LIMITED_HEADERS: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds to wait before the next request (an integer).",
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimit-Limit": {
        "description": "Requests the caller may make at once (the burst).",
        "schema": {"type": "integer"},
    },
    "RateLimit-Remaining": {"description": "Requests left now: 0.", "schema": {"type": "integer"}},
    "RateLimit-Reset": {
        "description": "Seconds until a request is allowed again.",
        "schema": {"type": "integer"},
    },
}


def _all_errors() -> list[type[AftersalesError]]:
    return [AftersalesError, *AftersalesError.__subclasses__()]


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error (ours, FastAPI's, and unexpected ones) to problem+json."""

    @app.exception_handler(AftersalesError)
    async def _ours(request: Request, exc: AftersalesError) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.slug,
            exc.title,
            exc.detail,
            request.url.path,
            headers=getattr(exc, "headers", None),
            **exc.extra,
        )

    @app.exception_handler(InputAlreadyRecorded)
    async def _recorded(request: Request, exc: InputAlreadyRecorded) -> JSONResponse:
        return problem_response(
            409, "conflict", Conflict.title, f"already recorded: {exc}", request.url.path
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors)
        return problem_response(
            422,
            "validation",
            Unprocessable.title,
            f"Invalid fields: {fields}",
            request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http")
        return problem_response(exc.status_code, slug, str(exc.detail), None, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500,
            "internal",
            "Internal error",
            "An unexpected error occurred; it has been logged.",
            request.url.path,
        )
