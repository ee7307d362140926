"""`aftersales demo`, the security walk: what each caller can reach, and what it cannot.

A token scoped to one brand, the other brand's objects answering 404; free text whose
personal data is masked before it leaves intake, the brand reading its original until the
data subject is erased; a webhook aimed at the cloud metadata address refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx

# A consumer who types her phone number, name and e-mail into the description (seed [003]).
TYPED = "我是林美华，电话 138 1234 5678，邮箱 lin.meihua@example.com。用后头皮过敏，起了红疹。"


def security_walk(
    base: str, api_key: str, mine: str, admin_token: str, scoped_token: Callable[[str], str]
) -> bool:
    """Print the walk; False if the platform answered something it must not."""
    ok = True
    admin = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=base, timeout=10) as client:
        print("\n== Security: a token for one brand acts for that brand only")
        other = f"rival-{uuid.uuid4().hex[:6]}"
        created = client.post(
            "/v1/admin/brands", headers=admin, json={"brand_id": other, "name": "Rival"}
        )
        token = {"Authorization": f"Bearer {scoped_token(mine)}"}
        listed = client.get("/v1/admin/brands", headers=token).json()
        foreign = client.post(f"/v1/admin/brands/{other}/keys", headers=token)
        print(f"   token        admin of '{mine}' only (aftersales token issue --brand {mine})")
        print(f"   brands seen  {[b['brand_id'] for b in listed]}")
        print(f"   key for '{other}'  HTTP {foreign.status_code} (another brand's: not found)")
        ok &= created.status_code == 201 and foreign.status_code == 404
        ok &= {b["brand_id"] for b in listed} == {mine}

        print("\n== Security: personal data typed into free text leaves intake masked")
        ok &= _free_text(client, api_key, token)

        print("\n== Security: a webhook may only reach public endpoints")
        refused = client.post(
            "/v1/webhooks",
            headers={"X-Api-Key": api_key},
            json={
                "url": "http://169.254.169.254/latest/meta-data/",
                "event_types": ["ComplaintReceived"],
            },
        )
        print(f"   metadata URL HTTP {refused.status_code}: {refused.json().get('detail')}")
        ok &= refused.status_code == 422
    return ok


def _free_text(client: httpx.Client, api_key: str, token: dict[str, str]) -> bool:
    brand = {"X-Api-Key": api_key}
    posted = client.post(
        "/v1/complaints",
        headers=brand,
        json={
            "channel": "web",
            "consumer": {"name": "林美华", "phone": f"138{uuid.uuid4().int % 10**8:08d}"},
            "product": {"category": "洗发水 shampoo"},
            "order": {"price_fen": 6900, "merchant": "官方旗舰店"},
            "description": TYPED,
            "demands": [{"kind": "refund"}],
        },
    )
    if posted.status_code != 201:
        print(f"   could not post: {posted.status_code} {posted.text}")
        return False
    complaint = posted.json()
    path = f"/v1/complaints/{complaint['complaint_id']}"
    events = client.get(f"{path}/history", headers=brand).json()["events"]
    published = next(e for e in events if e["type"] == "ComplaintReceived")["payload"]
    print(f"   typed        {TYPED}")
    print(f"   published    {published.get('description')}  (NATS, routing, webhooks, history)")
    print(f"   brand reads  {client.get(path, headers=brand).json()['description']}")
    erased = client.post(f"/v1/ops/subjects/{complaint['subject_ref']}/erasure", headers=token)
    after = client.get(path, headers=brand).json()
    print(f"   erasure      HTTP {erased.status_code}: the subject's key destroyed (PIPL)")
    print(f"   brand reads  {after['description']}  (free_text: {after['free_text']})")
    return (
        "138 1234 5678" not in str(published.get("description"))
        and erased.status_code == 202
        and after["free_text"] == "redacted"
    )
