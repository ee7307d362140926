"""Compensation's remedy policy documents per brand, kept as recorded commands.

`PUT /v1/ops/brands/{brand}/remedy-policy` (and `aftersales compensation policy load`) record a
`remedy-policy.load` command whose effect is the brand's `BrandDocument` event carrying the
whole canonical document (`shared.brand_documents`). A brand without a document uses the
packaged statutory baseline (`data/policy_default.json`). Every decision reads the policy in
force when its input is processed and records its version, so a replay of the recorded inputs
in their order sees the same versions, and a new version never alters a past decision.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.compensation.policy import (
    RemedyPolicy,
    check_not_less_generous,
    default_policy,
    parse_policy,
)
from shared.brand_documents import BrandDocuments, Current
from shared.errors import Unprocessable
from shared.tuning import CachedCases

KIND = "remedy-policy"


def _version(policy: RemedyPolicy) -> str:
    return policy.version


def _dump(policy: RemedyPolicy) -> Any:
    return policy.model_dump(mode="json")


class RemedyPolicyBook(CachedCases):
    """Remedy policy documents per brand in compensation's own store."""

    def register_remedy_policies(self) -> None:
        self.remedy_policies: BrandDocuments[RemedyPolicy] = BrandDocuments(
            self, KIND, parse_policy, _version, default_policy, _dump
        )

    def load_remedy_policy(
        self, brand_id: str, policy: RemedyPolicy, at: datetime
    ) -> Current[RemedyPolicy]:
        """Check the document (the brand's own, never less generous than the law) and record
        it; `Unprocessable` names each field or rule at fault, `Conflict` a reused version."""
        problems = refusals(brand_id, policy)
        if problems:
            raise Unprocessable(
                "remedy policy refused: " + "; ".join(msg for _, msg in problems),
                errors=[
                    {"loc": ["body", *loc.split(".")], "msg": msg, "type": "policy_refused"}
                    for loc, msg in problems
                ],
            )
        return self.remedy_policies.load(brand_id, policy, at)

    def remedy_policy_in_force(self, brand_id: str) -> Current[RemedyPolicy]:
        return self.remedy_policies.current(brand_id)

    def remedy_policy(self, brand_id: str) -> RemedyPolicy:
        """The policy a decision for the brand uses now (its version goes in the decision)."""
        return self.remedy_policies.current(brand_id).parsed


def refusals(brand_id: str, policy: RemedyPolicy) -> list[tuple[str, str]]:
    """(where, why) for each reason to refuse `policy` as the brand's document."""
    found: list[tuple[str, str]] = []
    if policy.brand != brand_id:
        found.append(("brand", f"brand {policy.brand!r} is not the brand loaded ({brand_id!r})"))
    if policy.ground != "brand":
        found.append(("ground", "a brand's document has ground \"brand\" (the law is packaged)"))
    for problem in check_not_less_generous(policy, default_policy()):
        words = problem.split(" ")
        where = ".".join(words[:2]) if words[0] in ("sanbao", "statutory") else words[0]
        if words[:2] == ["statutory", "rule"]:
            where = f"statutory.{words[2]}"
        found.append((where, problem))
    return found

