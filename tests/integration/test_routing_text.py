"""Text understanding across intake and routing (real NATS, SQLite and PostgreSQL) [issue 18].

The seeds write their cases in traditional characters [003]: such a complaint classifies
like its simplified twin, a merchant named in either script gathers one group, a safety
complaint reaches the crisis team without the injury flag, and a brand's rules document
loaded over HTTP changes new decisions only, with the replay staying exact.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.routing.application import RoutingApplication
from services.routing.rulebook import LoadRules, rules_id
from services.routing.rules import RulesDocument
from shared.errors import Conflict
from shared.replay import verify_replay
from shared.settings import Settings
from tests.integration.test_replay import live_env
from tests.platform import (
    SPECS,
    RunningService,
    complaint_body,
    eventually,
    ops_token,
    register_brand,
)

BATH_HOUSE_TRADITIONAL = (  # [003 會所更名會員卡作廢]
    "該浴場於2008年10月初重新裝修後更名為「阿狄麗娜國際會所」,當他們再次前往店內消費時,"
    "卻被告知原消費卡不能繼續使用,必須再充值1000元更換新卡"
)
BATH_HOUSE_SIMPLIFIED = (
    "该浴场于2008年10月初重新装修后更名为「阿狄丽娜国际会所」,当他们再次前往店内消费时,"
    "却被告知原消费卡不能继续使用,必须再充值1000元更换新卡"
)
CLASSIFICATION_FIELDS = (
    "category",
    "dimension",
    "dimensions",
    "well_founded",
    "reasons",
    "judgement",
    "rules_version",
)


async def post(intake: RunningService, brand: dict[str, str], n: int, **body: Any) -> Any:
    """Post a complaint of consumer number `n`; the JSON answer."""
    consumer = {"name": f"消费者{n}", "phone": f"135{n:08d}"}
    posted = await intake.client.post(
        "/v1/complaints", json=complaint_body(consumer=consumer, **body), headers=brand
    )
    assert posted.status_code in (200, 201), posted.text
    return posted.json()


async def decisions(
    intake: RunningService, brand: dict[str, str], complaint_id: str
) -> dict[str, dict[str, Any]]:
    """Routing's three decisions on the complaint, by type, as the history shows them."""

    async def routed() -> Any:
        path = f"/v1/complaints/{complaint_id}/history"
        events = (await intake.client.get(path, headers=brand)).json()["events"]
        found = {e["type"]: e for e in events}
        return found if "HandlerAssigned" in found else None

    found: dict[str, dict[str, Any]] = await eventually(routed, what="routing's decisions")
    return found


async def test_a_traditional_complaint_classifies_exactly_like_its_simplified_twin(
    service: Any,
) -> None:
    intake = await service("intake")
    await service("routing")
    brand = await register_brand(intake, "twins")
    traditional = await post(
        intake,
        brand,
        1,
        description=BATH_HOUSE_TRADITIONAL,
        product={"category": "會員卡"},
        order={"merchant": "阿狄麗娜國際會所"},
    )
    simplified = await post(
        intake,
        brand,
        2,
        description=BATH_HOUSE_SIMPLIFIED,
        product={"category": "会员卡"},
        order={"merchant": "阿狄丽娜国际会所"},
    )

    seen = await decisions(intake, brand, traditional["complaint_id"])
    twin = await decisions(intake, brand, simplified["complaint_id"])
    classified, twin_classified = seen["ComplaintClassified"], twin["ComplaintClassified"]
    assert classified["payload"]["category"] == "prepaid_card"
    for name in CLASSIFICATION_FIELDS:
        assert classified["payload"][name] == twin_classified["payload"][name], name
    for decision in ("SeverityAssessed", "HandlerAssigned"):
        mine, theirs = seen[decision]["payload"], twin[decision]["payload"]
        assert mine.get("severity") == theirs.get("severity")
        assert mine.get("team") == theirs.get("team")


async def test_a_merchant_named_in_either_script_gathers_one_group_and_links_repeats(
    service: Any,
) -> None:
    """[003] 29 consumers against 上海海蘭雲天花園式浴場; DOMAIN.md: groups and duplicates
    follow the merchant in simplified or traditional script."""
    intake = await service("intake")
    brand = await register_brand(intake, "bathhouse")
    merchants = ["上海海蘭雲天花園式浴場", "上海海兰云天花园式浴场", "上海 海蘭雲天 花園式浴場"]
    categories = ["預付卡", "预付卡", "預付卡"]
    posted = [
        await post(
            intake,
            brand,
            n,
            description=BATH_HOUSE_TRADITIONAL if n % 2 else BATH_HOUSE_SIMPLIFIED,
            product={"category": categories[n], "model": "充值消費卡"},
            order={"merchant": merchants[n], "price_fen": 100000},
        )
        for n in range(3)
    ]
    assert [p["group_id"] for p in posted[:2]] == [None, None]
    group_id = posted[2]["group_id"]
    assert group_id is not None, "three consumers of one merchant are one group"
    group = (await intake.client.get(f"/v1/groups/{group_id}", headers=brand)).json()
    assert group["consumer_count"] == group["member_count"] == 3

    repeat = await post(  # consumer 0 again, the merchant and model in the other script
        intake,
        brand,
        0,
        description="又來電:會員卡還是不能用",
        product={"category": "预付卡", "model": "充值消费卡"},
        order={"merchant": "上海海兰云天花园式浴场"},
    )
    assert repeat["duplicate_of"] == posted[0]["complaint_id"]


async def test_a_safety_complaint_without_the_injury_flag_reaches_the_crisis_team(
    service: Any,
) -> None:
    """README's example, "使用后头皮过敏，起了红疹": the 花王 case, crisis team the same
    night [003 案例分析4]."""
    intake = await service("intake")
    await service("routing")
    brand = await register_brand(intake, "kao")
    posted = await post(
        intake,
        brand,
        7,
        description="使用后头皮过敏，起了红疹",
        product={"category": "洗发水 shampoo"},
        order={"price_fen": 6900},
        demands=[{"kind": "refund"}],
    )
    seen = await decisions(intake, brand, posted["complaint_id"])
    assert "injury" not in posted or not posted["injury"]
    assert seen["ComplaintClassified"]["payload"]["safety_signals"] == ["过敏", "红疹"]
    assessed = seen["SeverityAssessed"]["payload"]
    assert assessed["severity"] == "critical"
    assert assessed["factors"] == ["personal injury or safety: 过敏、红疹"]
    assert seen["HandlerAssigned"]["payload"]["team"] == "crisis"


LOYALTY_RULES = {
    "version": "loyalty-2",
    "categories": [
        {
            "category": "loyalty_points",
            "keywords": ["积分", "積分"],
            "dimensions": ["reliability"],
            "weight": 2,
        },
        {"category": "delivery", "keywords": ["快递"], "dimensions": ["responsiveness"]},
    ],
    "safety_signals": [{"signal": "allergy", "keywords": ["过敏"]}],
}


async def test_brand_rules_loaded_over_http_change_new_decisions_only_and_replay_stays_exact(
    service: Any, settings: Settings
) -> None:
    intake = await service("intake")
    routing = await service("routing")
    brand = await register_brand(intake, "loyal")
    admin = ops_token(routing, ("admin",), ("loyal",))
    path = "/v1/ops/brands/loyal/routing-rules"
    text = {"description": "会员积分一直没有到账", "product": {"category": "会员服务"}}

    before = await post(intake, brand, 1, **text)
    first = await decisions(intake, brand, before["complaint_id"])
    shown = await routing.client.get(path, headers=ops_token(routing, ("viewer",), ("loyal",)))
    assert (shown.json()["source"], shown.json()["version"]) == ("default", "default-2026.1")

    loaded = await routing.client.put(path, headers=admin, json=LOYALTY_RULES)
    assert loaded.status_code == 200, loaded.text
    assert (loaded.json()["source"], loaded.json()["version"]) == ("brand", "loyalty-2")
    after = await post(intake, brand, 2, **text)
    second = await decisions(intake, brand, after["complaint_id"])

    old, new = first["ComplaintClassified"]["payload"], second["ComplaintClassified"]["payload"]
    assert (old["category"], old["rules_version"]) == ("other", "default-2026.1")
    assert (new["category"], new["rules_version"]) == ("loyalty_points", "loyalty-2")
    assert new["reasons"] == ["mentions 积分"]
    again = await decisions(intake, brand, before["complaint_id"])
    assert again["ComplaintClassified"] == first["ComplaintClassified"], "past decisions stay"

    single = {**LOYALTY_RULES, "version": "loyalty-3"}
    single["categories"] = [{"category": "leaks", "keywords": ["漏"], "dimensions": ["tangibles"]}]
    refused = await routing.client.put(path, headers=admin, json=single)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    locations = [e["loc"] for e in refused.json()["errors"]]
    assert ["body", "categories", 0, "keywords", 0] in locations, refused.text
    changed = {**LOYALTY_RULES, "categories": LOYALTY_RULES["categories"][:1]}
    conflict = await routing.client.put(path, headers=admin, json=changed)
    assert conflict.status_code == 409, conflict.text
    viewer = ops_token(routing, ("viewer",), ("loyal",))
    assert (await routing.client.put(path, headers=viewer, json=LOYALTY_RULES)).status_code == 403
    other_admin = ops_token(routing, ("admin",), ("someone-else",))
    denied = await routing.client.put(path, headers=other_admin, json=LOYALTY_RULES)
    assert denied.status_code == 404
    assert (await routing.client.get(path, headers=viewer)).json()["version"] == "loyalty-2"

    await routing.stop()
    await intake.stop()
    report = verify_replay("routing", SPECS["routing"].application, live_env("routing", settings))
    assert report.differences == [], [str(d) for d in report.differences]
    assert report.inputs >= 3, report.summary()  # two complaints and the rules loaded


def test_rules_versions_reload_go_back_and_refuse_a_reused_version(tmp_path: Path) -> None:
    """On a real SQLite store: the same document again changes nothing; an older version may
    come back; a version number reused for other content is refused (409)."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "r.db")}
    app = RoutingApplication(env=env)
    at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    first = RulesDocument.model_validate(LOYALTY_RULES)
    second = RulesDocument.model_validate({**LOYALTY_RULES, "version": "loyalty-3"})
    try:
        assert app.rules_for("loyal") is None  # the packaged default applies
        assert app.load_rules(LoadRules("loyal", first, at)).version == "loyalty-2"
        assert app.load_rules(LoadRules("loyal", first, at)).version == "loyalty-2"
        assert app.load_rules(LoadRules("loyal", second, at)).version == "loyalty-3"
        compiled = app.rules_for("loyal")
        assert compiled is not None
        assert compiled.version == "loyalty-3"
        assert app.load_rules(LoadRules("loyal", first, at)).version == "loyalty-2"
        compiled = app.rules_for("loyal")
        assert compiled is not None
        assert compiled.version == "loyalty-2"
        reused = {**LOYALTY_RULES, "categories": LOYALTY_RULES["categories"][:1]}
        with pytest.raises(Conflict):
            app.load_rules(LoadRules("loyal", RulesDocument.model_validate(reused), at))
        rules: Any = app.repository.get(rules_id("loyal"))
        assert rules.version == 3  # loyalty-2, loyalty-3, loyalty-2 back (a same reload: none)
        assert app.brand_rules("other-brand").source == "default"
    finally:
        app.close()
