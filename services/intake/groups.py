"""Group complaints (群诉): many consumers against one merchant form a group, and join it.

Until a group forms, cases are indexed per merchant and category (`MerchantFile`); once
it has formed, new cases simply join it. The rule itself is `policies.cases_to_group`.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate

from services.intake.base import Arrival, IntakeBase, instant
from services.intake.domain import Complaint, ComplaintGroup, MerchantFile
from services.intake.errors import GroupNotFound
from services.intake.policies import GroupPolicy, MerchantCase, cases_to_group, group_key
from shared.store import EventMeta, derive_id

GROUPS = GroupPolicy()


@dataclass(frozen=True)
class GroupJoin:
    """The group a case formed or joined (if any), and the merchant index it updated."""

    group: ComplaintGroup | None
    members: list[MerchantCase]
    merchant_file: MerchantFile | None

    @property
    def group_id(self) -> str | None:
        return str(self.group.id) if self.group else None

    @property
    def aggregates(self) -> list[Aggregate]:
        return [a for a in (self.merchant_file, self.group) if a is not None]


class Groups(IntakeBase):
    """Forming and joining groups as cases open; reading a brand's group."""

    def group(self, brand_id: str, group_id: UUID) -> ComplaintGroup:
        """A brand's complaint group; another brand's is not found."""
        group: ComplaintGroup | None = self.get_or_none(group_id)
        if not isinstance(group, ComplaintGroup) or group.brand_id != brand_id:
            raise GroupNotFound(f"group {group_id} not found")
        return group

    def _join_group(self, arrival: Arrival) -> GroupJoin | None:
        """The group a case forms or joins against its merchant; None without a merchant."""
        key = group_key(arrival.order, arrival.product)
        if key is None:
            return None
        group: ComplaintGroup | None = self.get_or_none(derive_id("group", arrival.brand_id, key))
        new = MerchantCase(str(arrival.complaint_id), arrival.subject_ref, arrival.received_at)
        merchant_file = None if group else self._merchant_file(arrival.brand_id, key)
        cases = [
            MerchantCase(c["complaint_id"], c["subject_ref"], instant(c["received_at"]))
            for c in (merchant_file.cases if merchant_file else [])
        ]
        members = cases_to_group(cases, new, group is not None, GROUPS)
        if merchant_file:
            merchant_file.record_case(
                complaint_id=new.complaint_id, subject_ref=new.subject_ref, received_at=_iso(new)
            )
        if not members:
            return GroupJoin(None, [], merchant_file)
        group = group or ComplaintGroup(
            id=derive_id("group", arrival.brand_id, key),
            brand_id=arrival.brand_id,
            group_key=key,
            merchant=str(arrival.order.get("merchant")),
            category=str(arrival.product.get("category")),
            formed_at=arrival.received_at.isoformat(),
        )
        for case in members:
            group.add_member(
                complaint_id=case.complaint_id, subject_ref=case.subject_ref, received_at=_iso(case)
            )
        return GroupJoin(group, members, merchant_file)

    def _merchant_file(self, brand_id: str, key: str) -> MerchantFile:
        file_id = derive_id("merchant-file", brand_id, key)
        found: MerchantFile | None = self.get_or_none(file_id)
        return found or MerchantFile(id=file_id, brand_id=brand_id, group_key=key)

    def _link_members(self, complaint: Complaint, join: GroupJoin) -> list[Complaint]:
        """Link every new member to the group; returns the earlier complaints it touched."""
        assert join.group is not None
        earlier: list[Complaint] = []
        for case in join.members:
            member = complaint
            if case.complaint_id != str(complaint.id):
                member = self.get_or_none(UUID(case.complaint_id))  # a bulk chunk's too
                assert isinstance(member, Complaint), case.complaint_id
                earlier.append(member)
            member.link_group(
                meta=EventMeta(member.brand_id, member.trace_id, None),
                group_id=str(join.group.id),
                group_key=join.group.group_key,
                member_count=join.group.member_count,
            )
        return earlier


def _iso(case: MerchantCase) -> str:
    return case.received_at.isoformat()
