"""Rosters per brand as versioned data: teams, handlers, authority limits, skills, the chain.

A brand's roster is a document loaded by a recorded command (`roster.load`); a brand with
none uses `DEFAULT_ROSTER` (today's three teams, with supervisors and a chain), whose
version is recorded on every assignment like a loaded one. Everything here is pure: the
handler for a case is chosen by authority and skill, walking the escalation chain upwards
when nobody in a team may decide, and spread among the eligible by a hash of the
complaint id (no clock, no random) [003 首问负责制: a named handler with enough authority].
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Level = Literal["frontline", "senior", "crisis"]
LEVEL_RANK: dict[str, int] = {"frontline": 0, "senior": 1, "crisis": 2}
# The team level each severity needs [DOMAIN.md step 4: the more serious, the higher].
LEVEL_FOR_SEVERITY: dict[str, str] = {"normal": "frontline", "high": "senior", "critical": "crisis"}
SEVERITY_RANK: dict[str, int] = {"normal": 0, "high": 1, "critical": 2}
Id = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class HandlerDoc(BaseModel):
    """A named handler: skills (categories; empty: the team's) and authority (None: the team's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Id
    display_name: str = Field(min_length=1, max_length=100)
    skills: tuple[str, ...] = ()
    authority_fen: int | None = Field(default=None, ge=0)
    desk: str | None = Field(default=None, max_length=100, description="Desk or place.")


class TeamDoc(BaseModel):
    """A team at one level, with its default authority and skills and its supervisor."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Id
    level: Level
    authority_fen: int = Field(ge=0)
    skills: tuple[str, ...] = Field(default=(), description="Categories; empty: all.")
    supervisor: str = Id
    handlers: tuple[HandlerDoc, ...] = Field(min_length=1, max_length=500)


class Roster(BaseModel):
    """A brand's roster (a versioned document): teams and the escalation chain, lowest first."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str = Field(min_length=1, max_length=64)
    teams: tuple[TeamDoc, ...] = Field(min_length=1, max_length=50)
    escalation_chain: tuple[str, ...] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _consistent(self) -> Roster:
        names = [t.name for t in self.teams]
        if len(set(names)) != len(names):
            raise ValueError("teams: each team name must be unique")
        ids = [h.id for t in self.teams for h in t.handlers]
        if len(set(ids)) != len(ids):
            raise ValueError("teams.handlers.id: a handler belongs to one team only")
        for name in self.escalation_chain:
            if name not in names:
                raise ValueError(f"escalation_chain: {name!r} is not a team of this roster")
        if len(set(self.escalation_chain)) != len(self.escalation_chain):
            raise ValueError("escalation_chain: each team appears once")
        for team in self.teams:
            if team.supervisor not in ids:
                raise ValueError(f"teams.supervisor: {team.supervisor!r} is not a handler here")
        ranks = [LEVEL_RANK[self.team(n).level] for n in self.escalation_chain]
        if ranks != sorted(ranks):
            raise ValueError("escalation_chain: teams must be listed lowest level first")
        return self

    def team(self, name: str) -> TeamDoc:
        return next(t for t in self.teams if t.name == name)

    def team_of(self, handler_id: str) -> TeamDoc | None:
        return next((t for t in self.teams if any(h.id == handler_id for h in t.handlers)), None)

    def handler(self, handler_id: str) -> HandlerDoc | None:
        return next((h for t in self.teams for h in t.handlers if h.id == handler_id), None)

    def authority_of(self, handler_id: str) -> int:
        """The handler's authority in fen (their own, else their team's); 0 if unknown."""
        team, handler = self.team_of(handler_id), self.handler(handler_id)
        if team is None or handler is None:
            return 0
        return team.authority_fen if handler.authority_fen is None else handler.authority_fen

    @property
    def chain(self) -> tuple[TeamDoc, ...]:
        """The teams in escalation order, then any team left out of the chain."""
        listed = [self.team(n) for n in self.escalation_chain]
        return (*listed, *(t for t in self.teams if t.name not in self.escalation_chain))


def _team(name: str, level: Level, authority: int, supervisor: str, *ids: str) -> TeamDoc:
    handlers = tuple(
        HandlerDoc(id=i, display_name=i.replace("-", " ").title(), desk=f"{name}-desk") for i in ids
    )
    return TeamDoc(
        name=name, level=level, authority_fen=authority, supervisor=supervisor, handlers=handlers
    )


DEFAULT_ROSTER = Roster(
    version="default-1",
    teams=(
        _team(
            "frontline", "frontline", 50_000, "senior-chen",
            "handler-li", "handler-wang", "handler-zhang",
        ),
        _team("senior", "senior", 200_000, "crisis-lead-liu", "senior-chen", "senior-zhao"),
        _team("crisis", "crisis", 2_000_000, "crisis-lead-liu", "crisis-lead-liu"),
    ),
    escalation_chain=("frontline", "senior", "crisis"),
)


def parse_roster(document: dict[str, Any]) -> Roster:
    """The roster a recorded command carries (validated when it was received)."""
    return Roster.model_validate(document)


# --- choosing a handler ------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    team: str
    handler_id: str
    authority_fen: int
    reason: str


def amount_at_stake(received: dict[str, Any]) -> int:
    """The most a decision on the demands could cost, in fen: the price for a refund or an
    exchange, the amount for compensation (as compensation prices remedies) [DOMAIN.md
    step 4: authority limits]."""
    price = (received.get("order") or {}).get("price_fen") or 0
    stakes = [0]
    for demand in received.get("demands") or []:
        if demand.get("kind") in ("refund", "exchange"):
            stakes.append(max(price, demand.get("amount_fen") or 0))
        else:
            stakes.append(demand.get("amount_fen") or 0)
    return max(stakes)


def _spread(complaint_id: str, handlers: Sequence[str]) -> str:
    digest = int(hashlib.sha256(complaint_id.encode()).hexdigest(), 16)
    return handlers[digest % len(handlers)]


def _skilled(team: TeamDoc, handler: HandlerDoc, category: str | None) -> bool:
    skills = handler.skills or team.skills
    return not skills or category is None or category in skills


def choose(
    roster: Roster,
    complaint_id: str,
    severity: str,
    category: str | None,
    amount_fen: int,
    exclude: Sequence[str] = (),
) -> Choice:
    """The named handler for a case [003 首问负责制; DOMAIN.md step 4]: in the first team of
    the severity's level (up the chain), one with the skill and authority ≥ the amount;
    nobody there: the next team up; nobody anywhere with the skill: authority alone;
    nobody with enough authority: the top of the chain, flagged."""
    needed = LEVEL_RANK[LEVEL_FOR_SEVERITY.get(severity, "frontline")]
    teams = [t for t in roster.chain if LEVEL_RANK[t.level] >= needed] or [roster.chain[-1]]
    for with_skill in (True, False):
        for team in teams:
            eligible = [
                h.id
                for h in team.handlers
                if h.id not in exclude
                and roster.authority_of(h.id) >= amount_fen
                and (not with_skill or _skilled(team, h, category))
            ]
            if eligible:
                chosen = _spread(complaint_id, eligible)
                why = f"{severity} severity: {team.level} team {team.name}"
                why += f", authority ≥ {amount_fen} fen"
                why += f", skill {category}" if with_skill and category else ""
                return Choice(team.name, chosen, roster.authority_of(chosen), why)
    top = teams[-1]
    candidates = [h.id for h in top.handlers if h.id not in exclude] or [top.supervisor]
    chosen = max(candidates, key=lambda h: (roster.authority_of(h), h))
    reason = f"nobody has authority for {amount_fen} fen: top of the chain ({top.name})"
    return Choice(top.name, chosen, roster.authority_of(chosen), reason)


def team_rank(roster: Roster, team: str | None) -> int:
    """The level rank of a team of the roster (-1: not a team of this roster)."""
    found = next((t for t in roster.teams if t.name == team), None)
    return -1 if found is None else LEVEL_RANK[found.level]


def escalation_target(roster: Roster, current_team: str, level: int) -> tuple[str, str]:
    """Who an escalation of `level` reaches from `current_team` (handler → supervisor →
    crisis team): level 1 is the team's supervisor (in their own team); each level after
    it the next team up the chain from there (its supervisor), stopping at the top
    [DOMAIN.md: escalation]."""
    chain = [t.name for t in roster.chain]
    start = chain.index(current_team) if current_team in chain else 0
    supervisor = roster.team(chain[start]).supervisor
    home = roster.team_of(supervisor)
    base = chain.index(home.name) if home is not None and home.name in chain else start
    if level <= 1:
        return chain[base], supervisor
    team = roster.team(chain[min(base + level - 1, len(chain) - 1)])
    return team.name, team.supervisor
