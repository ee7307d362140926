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
