"""A brand's remedy policy over HTTP (real service, NATS, SQLite and PostgreSQL) [issue 19].

Loaded by an admin, read by a viewer, brand-scoped; a document less generous than the law,
or an apology admitting fault, is refused (422 naming the field or rule); a version reused
with other content is a 409; another replica sees a new version on its next read; the loads
are recorded commands, so `replay --verify` of compensation stays exact.
"""

from __future__ import annotations

import json
from typing import Any

from services.compensation.application import CompensationApplication
from services.compensation.policy import DEFAULT_DOCUMENT
from shared.replay import verify_replay
from shared.settings import Settings
from tests.integration.test_replay import live_env
from tests.platform import SPECS, ops_token

PATH = "/v1/ops/brands/acme/remedy-policy"


def acme(version: str = "acme-1", **changes: Any) -> dict[str, Any]:
    """The packaged baseline as acme's own document: 30 days to return a microwave."""
    document: dict[str, Any] = json.loads(DEFAULT_DOCUMENT.read_text(encoding="utf-8"))
    microwave = {**document["sanbao"][-1], "refund_days": 30, "exchange_days": 30}
    document.update(brand="acme", version=version, ground="brand", sanbao=[microwave])
    document["apology"] = {"version": "ap-1", "brand_name_zh": "艾克美"}
    document.update(changes)
    return document


async def test_remedy_policy_load_read_refusals_replicas_and_exact_replay(
    service: Any, settings: Settings
) -> None:
    compensation = await service("compensation")
    client = compensation.client
    admin = ops_token(compensation, ("admin",), ("acme",))
    viewer = ops_token(compensation, ("viewer",), ("acme",))

    shown = await client.get(PATH, headers=viewer)
    assert shown.status_code == 200, shown.text
    assert (shown.json()["source"], shown.json()["version"]) == ("default", "2026.1")

    loaded = await client.put(PATH, headers=admin, json=acme())
    assert loaded.status_code == 200, loaded.text
    body = loaded.json()
    assert (body["source"], body["version"], body["brand_id"]) == ("brand", "acme-1", "acme")
    assert body["document"]["sanbao"][0]["refund_days"] == 30
    read = (await client.get(PATH, headers=viewer)).json()
    assert read == body
    again = await client.put(PATH, headers=admin, json=acme())  # the same document: no change
    assert again.json()["digest"] == body["digest"]

    # Another replica on the same store: sees acme-1, then acme-2 once loaded here.
    replica = CompensationApplication(env=live_env("compensation", settings))
    try:
        assert replica.remedy_policy("acme").version == "acme-1"
        assert replica.remedy_policy("other").version == "2026.1"  # the packaged default
        second = await client.put(PATH, headers=admin, json=acme("acme-2"))
        assert second.status_code == 200, second.text
        assert replica.remedy_policy("acme").version == "acme-2"
        assert replica.remedy_policy_in_force("acme").source == "brand"
    finally:
        replica.close()

    stingy = acme("acme-3", distance_return_days=3)
    refused = await client.put(PATH, headers=admin, json=stingy)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert ["body", "distance_return_days"] in [e["loc"] for e in refused.json()["errors"]]
    assert "七日" in refused.text or "below 7" in refused.text

    admits = acme("acme-3", apology={"default": "{address}好，我们承担全部赔偿。"})
    refused = await client.put(PATH, headers=admin, json=admits)
    assert refused.status_code == 422, refused.text
    assert "admission of fault" in refused.text
    assert any("apology" in e["loc"] for e in refused.json()["errors"]), refused.text

    wrong_brand = await client.put(PATH, headers=admin, json=acme("acme-3", brand="other"))
    assert wrong_brand.status_code == 422
    assert ["body", "brand"] in [e["loc"] for e in wrong_brand.json()["errors"]]

    reused = await client.put(PATH, headers=admin, json=acme("acme-1", distance_return_days=10))
    assert reused.status_code == 409, reused.text
    assert "acme-1" in reused.json()["detail"]

    assert (await client.put(PATH, headers=viewer, json=acme("acme-4"))).status_code == 403
    other_admin = ops_token(compensation, ("admin",), ("someone-else",))
    assert (await client.put(PATH, headers=other_admin, json=acme("acme-4"))).status_code == 404
    assert (await client.get(PATH, headers=other_admin)).status_code == 404
    assert (await client.get(PATH, headers=viewer)).json()["version"] == "acme-2"

    await compensation.stop()
    report = verify_replay(
        "compensation", SPECS["compensation"].application, live_env("compensation", settings)
    )
    assert report.differences == [], [str(d) for d in report.differences]
    assert report.inputs >= 3, report.summary()  # acme-1, acme-1 again, acme-2
