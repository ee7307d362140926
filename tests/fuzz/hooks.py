"""schemathesis hooks for the fuzz tier (loaded by `st run` through the generated config).

- Regulator routes are signed like a regulator signs them (HMAC over the bytes sent), so
  generated transfers get past authentication and reach validation and the use cases.
- Webhook targets: a schema-valid URL names any host; positive cases register a loopback
  URL instead (a closed port: deliveries fail fast), so the delivery worker never resolves
  or calls invented hosts. Negative cases keep their invalid URLs.
- Regulator transfers: positive cases name the registered brand (the schema cannot say
  which brands exist; an unknown one is refused, 422, by design).
- Positive batches keep at most MAX_FUZZ_BATCH transfers.
- Dates the schema cannot bound: a positive transfer's `transferred_on` is today (a date
  after tomorrow is refused, 422, by design); a positive working-days range is one day; a
  positive calendar year is a valid schedule of its year (the schema cannot say that the
  dates fall in the path's year, nor that a make-up day is a weekend day), in 2000–2100.
- A complaint's dates (purchase, delivery, fault) and media flags: a positive case's dates
  are one plausible past day (a delivery before the purchase, a date in the future or
  before 2000 is refused, 422, by design) and media exposure with a reach of "none" drops
  the reach (a contradiction, refused).
- Routing rules documents: positive cases name each category once and never `other` (the
  fallback), which a JSON schema cannot say of a list of objects; a repeat is refused (422).
- Routing rosters: positive cases are made consistent (unique team names and handler ids,
  each supervisor a handler of the roster, the chain naming every team lowest level first),
  which the schema cannot say; an inconsistent roster is refused, 422, by design.
- Remedy policy documents: positive cases are made loadable: the path's brand, ground
  "brand", the packaged baseline's sections wherever the generated one is invalid or less
  generous than the law (nesting periods, the parcel cap's conversion, the law's floors: a
  JSON schema cannot say them), and a version derived from the content (a version reused
  with other content is refused, 409, by design).
- Opaque list cursors: a generated string that matches the schema is still not a cursor
  the service handed out (the server refuses it, 422). Positive cases get no invented
  cursor; the stateful phase follows `next_cursor` links with real ones, and negative
  cases keep theirs.

The regulator's id and secret come from the environment the test sets (FUZZ_REGULATOR_*).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import schemathesis
from schemathesis import GenerationMode

from shared.security import (
    NONCE_HEADER,
    REGULATOR_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_request,
)

LISTS_WITH_CURSOR = (
    "/v1/complaints",
    "/v1/webhooks/deliveries",
    "/v1/ops/queues",
    "/v1/ops/approvals",
)
# A valid batch of thousands is the bulk benchmark's job (bench/bulk.md): here it would hold
# the store's writer for seconds on a shared CI machine. Negative cases (5001 items) stay.
MAX_FUZZ_BATCH = 50
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REMEDY_POLICY = ROOT / "services" / "compensation" / "data" / "policy_default.json"


class RegulatorSignature(requests.auth.AuthBase):
    """Sign the request as prepared (final path, query and body bytes), as tests do."""

    def __init__(self, regulator_id: str, secret: str) -> None:
        self.regulator_id = regulator_id
        self.secret = secret.encode()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        path = unquote(parts.path) + (f"?{parts.query}" if parts.query else "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        timestamp, nonce = int(time.time()), secrets.token_hex(12)
        request.headers[REGULATOR_HEADER] = self.regulator_id
        request.headers[TIMESTAMP_HEADER] = str(timestamp)
        request.headers[NONCE_HEADER] = nonce
        request.headers[SIGNATURE_HEADER] = sign_request(
            self.secret, request.method or "GET", path, timestamp, nonce, body
        )
        return request


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.path.startswith("/v1/regulator/"):
        kwargs["auth"] = RegulatorSignature(
            os.environ["FUZZ_REGULATOR_ID"], os.environ["FUZZ_REGULATOR_SECRET"]
        )


def _positive(case: Any) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    method = case.method.upper()
    if not _positive(case):
        return case
    if (
        method == "GET"
        and case.path in LISTS_WITH_CURSOR
        and isinstance(case.query, dict)
        and "cursor" in case.query
    ):
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    if method == "POST" and case.path == "/v1/webhooks" and isinstance(case.body, dict):
        case.body = {**case.body, "url": os.environ["FUZZ_WEBHOOK_URL"]}
    if method == "POST" and case.path == "/v1/complaints" and isinstance(case.body, dict):
        case.body = _plausible_facts(case.body)
    if method == "POST" and case.path == "/v1/regulator/transfers" and isinstance(case.body, dict):
        case.body = _to_known_brand(case.body)
    if method == "POST" and case.path == "/v1/regulator/transfers/batch":
        body = case.body if isinstance(case.body, dict) else {}
        if isinstance(body.get("transfers"), list):
            transfers = body["transfers"][:MAX_FUZZ_BATCH]
            case.body = {**body, "transfers": [_to_known_brand(t) for t in transfers]}
    query = case.query if isinstance(case.query, dict) else {}
    if method == "GET" and case.path == "/v1/calendar/working-days" and "from" in query:
        case.query = {**query, "to": query["from"]}
    if method == "PUT" and case.path == "/v1/calendar/years/{year}" and isinstance(case.body, dict):
        year = str((case.path_parameters or {}).get("year", ""))  # an int, or its digits
        if year.isdigit():
            # The stateful phase feeds in a year a working-days answer named (any year):
            # the path takes 2000–2100.
            loadable = min(max(int(year), 2000), 2100)
            case.path_parameters = {**case.path_parameters, "year": loadable}
            case.body = {**case.body, "holidays": [f"{loadable}-01-01"], "workdays": []}
    if method == "PUT" and case.path.endswith("/routing-rules") and isinstance(case.body, dict):
        case.body = _categories_once(case.body)
    if method == "PUT" and case.path == "/v1/ops/brands/{brand}/roster":
        case.body = _consistent_roster(case.body)
    if method == "PUT" and case.path == "/v1/ops/brands/{brand}/remedy-policy":
        brand = str((case.path_parameters or {}).get("brand", ""))
        case.body = _loadable_remedy_policy(case.body, brand)
    return case


def _loadable_remedy_policy(body: Any, brand: str) -> Any:
    """The generated document, section by section where the result stays loadable for
    `brand` (services/compensation/policy_store.refusals), else the baseline's section."""
    from services.compensation.policy import PolicyError, RemedyPolicy, parse_policy
    from services.compensation.policy_store import refusals

    if not isinstance(body, dict):
        return body
    document: dict[str, Any] = json.loads(DEFAULT_REMEDY_POLICY.read_text(encoding="utf-8"))
    document.update(brand=brand, ground="brand")
    for key, value in sorted(body.items()):
        if key in ("brand", "ground", "version") or key not in RemedyPolicy.model_fields:
            continue
        candidate = {**document, key: value}
        try:
            if not refusals(brand, parse_policy(json.dumps(candidate, ensure_ascii=False))):
                document = candidate
        except (PolicyError, TypeError, ValueError):
            continue
    content = json.dumps(document, ensure_ascii=False, sort_keys=True)
    document["version"] = "fz-" + hashlib.sha256(content.encode()).hexdigest()[:20]
    return document


def _categories_once(document: dict[str, Any]) -> dict[str, Any]:
    categories = document.get("categories")
    if not isinstance(categories, list):
        return document
    renamed = [
        {**c, "category": f"c{n}_{c.get('category', '')}"[:40]} if isinstance(c, dict) else c
        for n, c in enumerate(categories)
    ]
    return {**document, "categories": renamed}


LEVELS = ("frontline", "senior", "crisis")


def _consistent_roster(body: Any) -> Any:
    """A roster whose names, supervisors and chain agree (services/routing/roster.py)."""
    teams = body.get("teams") if isinstance(body, dict) else None
    if not isinstance(teams, list) or not all(isinstance(t, dict) for t in teams):
        return body
    fixed, ids = [], 0
    for number, team in enumerate(teams):
        handlers = [h for h in team.get("handlers") or [] if isinstance(h, dict)]
        if not handlers or team.get("level") not in LEVELS:
            return body
        renamed = []
        for handler in handlers:
            renamed.append({**handler, "id": f"h{ids}"})
            ids += 1
        fixed.append({**team, "name": f"t{number}", "handlers": renamed,
                      "supervisor": renamed[0]["id"]})  # fmt: skip
    chain = [t["name"] for t in sorted(fixed, key=lambda t: LEVELS.index(t["level"]))]
    return {**body, "teams": fixed, "escalation_chain": chain}


def _to_known_brand(transfer: Any) -> Any:
    """A transfer about a registered brand: one about an unknown brand is refused (422)
    whatever its shape, which the schema cannot say."""
    if isinstance(transfer, dict) and "brand_id" in transfer:
        transfer = {**transfer, "brand_id": os.environ["FUZZ_BRAND"]}
    if isinstance(transfer, dict) and transfer.get("transferred_on") is not None:
        transfer = {**transfer, "transferred_on": date.today().isoformat()}
    if isinstance(transfer, dict) and isinstance(transfer.get("complaint"), dict):
        transfer = {**transfer, "complaint": _plausible_facts(transfer["complaint"])}
    return transfer


PLAUSIBLE_DAY = "2020-01-02"  # after 2000, before today: purchase = delivery = fault


def _plausible_facts(details: dict[str, Any]) -> dict[str, Any]:
    """A complaint whose dates agree (services/intake/schemas.py), which a schema cannot say."""
    fixed = dict(details)
    if fixed.get("fault_date") is not None:
        fixed["fault_date"] = PLAUSIBLE_DAY
    order = fixed.get("order")
    if isinstance(order, dict):
        fixed["order"] = {
            **order,
            **{
                name: PLAUSIBLE_DAY
                for name in ("purchase_date", "delivery_date")
                if order.get(name) is not None
            },
        }
    if fixed.get("media_exposure") is True and fixed.get("media_reach") == "none":
        fixed.pop("media_reach")
    return fixed
