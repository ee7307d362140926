"""Unit tests for routing's ownership policies: severity factors, rosters, assignment by
authority and skill, the chain walk, escalation targets and the three response modes.

Rules cited: DOMAIN.md step 3 (factors: injury/safety, media [004], regulator, groups of 29
and 78 consumers [003], repeats, large amounts); 首问负责制 [003 "whoever receives it owns
it until handed to a named handler"]; 三变法 [002 "change the person, the place or the
time"]; the three response modes [002: immediate, deferred, transfer] and "call back on
time even with no news" [000].
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.routing import roster as rosters
from services.routing import severity as sev
from services.routing.policies import assess
from services.routing.response import choose_mode, transfer
from services.routing.roster import DEFAULT_ROSTER, Roster, choose, escalation_target
from shared.calendar import packaged_calendar


def received(**extra: Any) -> dict[str, Any]:
    return {
        "channel": "phone",
        "product": {"category": "洗发水"},
        "order": extra.pop("order", {}),
        "description": "",
        "demands": extra.pop("demands", []),
        **extra,
    }


# --- severity, each factor listed [DOMAIN.md step 3] ------------------------------------


def test_safety_words_from_the_text_make_it_critical_with_the_words_listed_kao_003() -> None:
    """花王: "使用后头皮过敏" without the injury flag still reaches the crisis team [003]."""
    severity = assess(received(), safety_signals=["过敏", "红疹", "过敏"])
    assert severity.level == "critical"
    assert severity.factors == ["personal injury or safety: 过敏、红疹"]


@pytest.mark.parametrize(
    ("reach", "level"),
    [("none", "normal"), ("private", "high"), ("local", "high"), ("regional", "critical"),
     ("national", "critical")],
)  # fmt: skip
def test_media_exposure_is_graded_by_reach_004(reach: str, level: str) -> None:
    """"A phone video spreads fast" [004]: the wider the reach, the higher."""
    severity = sev.assess(received(media_exposure=True, media_reach=reach))
    assert severity.level == level
    if reach != "none":
        assert severity.factors == [f"media or social exposure ({reach} reach)"]


@pytest.mark.parametrize(("size", "level"), [(3, "high"), (19, "high"), (29, "critical"),
                                             (78, "critical")])  # fmt: skip
def test_group_size_thresholds_29_and_78_consumers_003(size: int, level: str) -> None:
    """Groups of 29 (bath house) and 78 (fruit vouchers) consumers [003]: a crisis."""
    severity = sev.assess(received(group_id="g"), group_size=size)
    assert severity == sev.Severity(level, [f"group complaint ({size} consumers)"])


@pytest.mark.parametrize(("repeats", "level"), [(0, "normal"), (1, "high"), (3, "critical")])
def test_each_repeat_contact_counts_and_raises_severity(repeats: int, level: str) -> None:
    """Repeat complaints raise severity [DOMAIN.md step 3]."""
    assert sev.assess(received(), repeats=repeats).level == level


def test_every_factor_is_listed_in_a_fixed_order() -> None:
    severity = sev.assess(
        received(injury=True, media_reach="local", regulator={"x": 1}, group_id="g",
                 order={"price_fen": 600_000}),
        repeats=2,
        group_size=5,
    )  # fmt: skip
    assert [sev.kind_of(f) for f in severity.factors] == [
        "personal injury or safety",
        "media or social exposure",
        "regulator transfer",
        "group complaint",
        "repeat complaint",
        "large amount",
    ]


def test_a_reassessment_never_lowers_and_updates_factors_of_the_same_kind() -> None:
    new = sev.Severity("high", ["group complaint (5 consumers)"])
    raised = sev.raised("critical", ["personal injury or safety", "group complaint"], new)
    assert raised == sev.Severity(
        "critical", ["personal injury or safety", "group complaint (5 consumers)"]
    )
    assert sev.raised("high", ["group complaint (5 consumers)"], new) is None


def test_repeats_and_group_size_are_read_from_the_recorded_inputs() -> None:
    inputs = [
        {"type": "ComplaintReceived", "payload": {}},
        {"type": "DuplicateLinked", "payload": {}},
        {"type": "GroupComplaintLinked", "payload": {"member_count": 3}},
        {"type": "DuplicateLinked", "payload": {}},
        {"type": "GroupComplaintLinked", "payload": {"member_count": 29}},
    ]
    assert sev.repeats_in(inputs) == 2
    assert sev.group_size_in(inputs) == 29
    assert sev.group_size_in(inputs[:2]) is None


# --- rosters and assignment [003 首问负责制: a named handler with authority] ------------


def roster(**changes: Any) -> Roster:
    document = DEFAULT_ROSTER.model_dump(mode="json")
    document["teams"][0]["handlers"] = [
        {"id": "li", "display_name": "Li", "skills": ["prepaid_card"]},
        {"id": "wang", "display_name": "Wang", "authority_fen": 300_000},
        {"id": "zhang", "display_name": "Zhang"},
    ]
    document["teams"][0]["supervisor"] = "senior-chen"
    document.update(changes)
    return Roster.model_validate(document)


def test_assignment_needs_authority_for_the_amount_at_stake() -> None:
    """A handler never promises above their authority [001 主管批示; DOMAIN.md step 4]."""
    chosen = {choose(roster(), f"c{n}", "normal", "other", 250_000).handler_id for n in range(50)}
    assert chosen == {"wang"}, "only wang's own authority (¥3,000) covers ¥2,500"


def test_assignment_prefers_the_skill_and_falls_back_to_authority_alone() -> None:
    """Skills per handler, else the team's; nobody skilled: authority alone decides."""
    skilled = roster().model_dump(mode="json")
    skilled["teams"][0]["skills"] = ["delivery"]
    team = Roster.model_validate(skilled)

    def picks(category: str) -> set[str]:
        return {choose(team, f"c{n}", "normal", category, 0).handler_id for n in range(50)}

    assert picks("prepaid_card") == {"li"}
    assert picks("delivery") == {"wang", "zhang"}, "li's own skills replace the team's"
    # nobody in the team has the skill: the next team up whose handlers have it
    assert picks("contract") == {"senior-chen", "senior-zhao"}
    for other in skilled["teams"][1:]:
        other["skills"] = ["delivery"]
    nowhere = Roster.model_validate(skilled)
    found = {choose(nowhere, f"c{n}", "normal", "contract", 0).handler_id for n in range(50)}
    assert found == {"li", "wang", "zhang"}, "nobody skilled anywhere: authority alone"


def test_nobody_in_the_team_with_enough_authority_walks_up_the_chain() -> None:
    choice = choose(DEFAULT_ROSTER, "c1", "normal", "product_quality", 459_900)
    assert (choice.team, choice.handler_id) == ("crisis", "crisis-lead-liu")
    assert choose(DEFAULT_ROSTER, "c1", "normal", None, 150_000).team == "senior"


def test_nobody_anywhere_with_enough_authority_is_the_top_of_the_chain_flagged() -> None:
    choice = choose(DEFAULT_ROSTER, "c1", "normal", None, 5_000_000)
    assert choice.team == "crisis"
    assert "nobody has authority" in choice.reason


def test_severity_picks_the_level_and_the_choice_is_deterministic() -> None:
    assert choose(DEFAULT_ROSTER, "c1", "high", None, 0).team == "senior"
    assert choose(DEFAULT_ROSTER, "c1", "critical", None, 0).team == "crisis"
    picks = {choose(DEFAULT_ROSTER, "same", "normal", None, 0).handler_id for _ in range(10)}
    assert len(picks) == 1


def test_amount_at_stake_is_what_compensation_could_grant() -> None:
    order = {"price_fen": 459_900}
    assert rosters.amount_at_stake(received(order=order, demands=[{"kind": "repair"}])) == 0
    assert rosters.amount_at_stake(received(order=order, demands=[{"kind": "refund"}])) == 459_900
    demands = [{"kind": "compensation", "amount_fen": 80_000}]
    assert rosters.amount_at_stake(received(demands=demands)) == 80_000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"escalation_chain": ["frontline", "nobody"]}, "escalation_chain"),
        ({"escalation_chain": ["crisis", "frontline"]}, "lowest level first"),
    ],
)
def test_a_roster_naming_what_does_not_exist_is_refused(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        roster(**change)


def test_a_supervisor_must_be_a_handler_of_the_roster() -> None:
    document = DEFAULT_ROSTER.model_dump(mode="json")
    document["teams"][0]["supervisor"] = "ghost"
    with pytest.raises(ValidationError, match=r"teams\.supervisor"):
        Roster.model_validate(document)


@pytest.mark.parametrize(
    ("team", "level", "target"),
    [
        ("frontline", 1, ("senior", "senior-chen")),  # handler -> supervisor
        ("frontline", 2, ("crisis", "crisis-lead-liu")),  # -> crisis team
        ("frontline", 9, ("crisis", "crisis-lead-liu")),  # the top stays the top
        ("senior", 1, ("crisis", "crisis-lead-liu")),
    ],
)
def test_escalation_follows_the_chain_handler_supervisor_crisis(
    team: str, level: int, target: tuple[str, str]
) -> None:
    """Escalation: the manager or a senior resolves what the first handler cannot [003];
    severe cases, an emergency mechanism [002]."""
    assert escalation_target(DEFAULT_ROSTER, team, level) == target


# --- response modes [002: immediate, deferred, transfer] -----------------------------------

FRIDAY = datetime(2026, 9, 25, 2, 0, tzinfo=UTC)  # 10:00 Shanghai, Friday 25 September 2026


def test_immediate_when_the_handler_has_the_facts_and_the_authority_002() -> None:
    mode = choose_mode("service_attitude", "normal", 50_000, 0, FRIDAY, packaged_calendar())
    assert (mode.mode, mode.answer_by, mode.callback_due) == ("immediate", None, None)


@pytest.mark.parametrize(
    ("category", "severity", "stake", "why"),
    [
        ("product_quality", "normal", 0, "product_quality needs inspection"),
        ("other", "critical", 0, "critical severity"),
        ("other", "normal", 60_000, "60000 fen at stake exceeds the handler's 50000 fen"),
    ],
)
def test_deferred_promises_an_answer_and_a_callback_even_without_news_000_002(
    category: str, severity: str, stake: int, why: str
) -> None:
    calendar = packaged_calendar()
    mode = choose_mode(category, severity, 50_000, stake, FRIDAY, calendar)
    assert mode.mode == "deferred"
    assert why in mode.reason
    assert mode.answer_by == "2026-09-28T02:00:00+00:00"  # a plan within 72 h [002 承诺书]
    callback = datetime.fromisoformat(str(mode.callback_due))
    # The next Shanghai working day: Saturday 26 Sep is off, Sunday 27 is a 调休 working day.
    expected = calendar.add_working_days(date(2026, 9, 25), 1)
    assert callback.astimezone(UTC).date() == expected


def test_transfer_names_the_receiving_party_002() -> None:
    mode = transfer("顺丰速运客服", "快递丢件由承运方处理")
    assert (mode.mode, mode.receiving_party) == ("transfer", "顺丰速运客服")


def test_team_rank_orders_the_levels_and_unknown_teams_rank_lowest() -> None:
    """A raised severity moves a case up, never down to a lower team [DOMAIN.md step 4]."""
    ranks = [rosters.team_rank(DEFAULT_ROSTER, t) for t in ("frontline", "senior", "crisis")]
    assert ranks == [0, 1, 2]
    assert rosters.team_rank(DEFAULT_ROSTER, "gone") == -1
    assert rosters.team_rank(DEFAULT_ROSTER, None) == -1
