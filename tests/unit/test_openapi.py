"""Every API route documents its errors as problem+json (issue 4: OpenAPI documents every error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.service import create_app
from shared.settings import Settings
from tests.platform import SPECS

UNDOCUMENTED_OK = {"/healthz", "/readyz", "/metrics"}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_route_documents_its_error_responses(name: str, tmp_path: Path) -> None:
    app = create_app(SPECS[name], Settings(environment="test", data_dir=tmp_path))
    schema: dict[str, Any] = app.openapi()
    missing = []
    for path, operations in schema["paths"].items():
        if path in UNDOCUMENTED_OK:
            continue
        for method, operation in operations.items():
            errors = {code: r for code, r in operation["responses"].items() if code[0] in "45"}
            problem = [
                c for c, r in errors.items() if "application/problem+json" in r.get("content", {})
            ]
            if not problem:
                missing.append(f"{method.upper()} {path}")
    assert not missing, f"routes without documented problem+json errors: {missing}"
    plain_422 = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "422" in operation["responses"]
        and "application/problem+json" not in operation["responses"]["422"].get("content", {})
    ]
    assert not plain_422, f"422 documented without problem+json: {plain_422}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_service_has_health_readiness_and_metrics(name: str, tmp_path: Path) -> None:
    app = create_app(SPECS[name], Settings(environment="test", data_dir=tmp_path))
    paths = set(app.openapi()["paths"])
    assert {"/healthz", "/readyz", "/metrics", "/v1/ops/dead-letters"} <= paths


@pytest.mark.parametrize("name", sorted(SPECS))
def test_limited_routes_document_429_with_retry_after_and_bodies_413(
    name: str, tmp_path: Path
) -> None:
    """Issue 17: rate limits (per key, regulator, ops token) and body limits, documented."""
    app = create_app(SPECS[name], Settings(environment="test", data_dir=tmp_path))
    undocumented = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            limited = bool(operation.get("security")) or any(
                p["name"] == "X-Aftersales-Regulator" for p in operation.get("parameters", ())
            )
            if limited and (
                "application/problem+json" not in responses.get("429", {}).get("content", {})
                or "Retry-After" not in responses["429"].get("headers", {})
            ):
                undocumented.append(f"429 {method.upper()} {path}")
            if "requestBody" in operation and "413" not in responses:
                undocumented.append(f"413 {method.upper()} {path}")
            if path in UNDOCUMENTED_OK and limited:
                undocumented.append(f"health {path} is rate limited")
    assert not undocumented, undocumented
