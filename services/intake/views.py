"""What callers see: a complaint, a group, a regulator's transfer, a contact source.

Pure functions of aggregates (and read-model rows); PII appears only as a reference.
"""

from __future__ import annotations

from typing import Any

from services.intake.complaint_index import ComplaintRow
from services.intake.domain import Complaint, ComplaintGroup, ConsumerFile
from services.intake.free_text import CORRECTION, DESCRIPTION


def complaint_view(complaint: Complaint) -> dict[str, Any]:
    """What a brand sees of a complaint: status and offer; PII only as a reference.

    Facts added with ComplaintReceived 2.0 (loss, fault date) and the compensation steps
    (a pending approval, the fulfilment) appear once known: a response recorded before
    they existed replays to the same body.
    """
    known = {
        "loss_fen": complaint.loss_fen,
        "fault_date": complaint.fault_date,
        "approval": complaint.approval,
        "fulfilment": complaint.fulfilment,
    }
    return {
        **{name: value for name, value in known.items() if value is not None},
        "complaint_id": str(complaint.id),
        "brand_id": complaint.brand_id,
        "status": complaint.status,
        "channel": complaint.channel,
        "received_at": complaint.created_on.isoformat(),
        "updated_at": complaint.modified_on.isoformat(),
        "trace_id": complaint.trace_id,
        "product": complaint.product,
        "order": complaint.order,
        "demands": complaint.demands,
        "category": complaint.category,
        "handler_id": complaint.handler_id,
        "offer": complaint.offer,
        "offer_status": complaint.offer_status,
        "revisit_due": complaint.revisit_due,
        "duplicates": complaint.duplicates,
        "group_id": complaint.group_id,
        "regulator": complaint.regulator,
        "subject_ref": complaint.subject_ref,
        "nuisance": complaint.nuisance,
        "confirmed": complaint.confirmed,
        "corrections": complaint.corrections,
    }


def complaint_detail_view(complaint: Complaint, originals: dict[str, str]) -> dict[str, Any]:
    """What the brand's own GET shows: the view plus the description and corrections as
    typed, while the subject's key opens them (`free_text: "original"`); once a sealed
    original cannot be opened (the subject was erased) the redacted text (`"redacted"`)."""
    corrections = {
        name: originals.get(CORRECTION + name, value)
        for name, value in complaint.corrections.items()
    }
    unopened = set(complaint.sealed_text) - set(originals)
    return {
        **complaint_view(complaint),
        "description": originals.get(DESCRIPTION, complaint.description),
        "corrections": corrections,
        "free_text": "redacted" if unopened else "original",
    }


def complaint_row_view(row: ComplaintRow) -> dict[str, Any]:
    """One line of the complaint list."""
    return {
        "complaint_id": str(row.complaint_id),
        "status": row.status,
        "received_at": row.received_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "nuisance": row.nuisance,
        "subject_ref": row.subject_ref,
    }


def group_view(group: ComplaintGroup, members: list[ComplaintRow]) -> dict[str, Any]:
    """A group complaint: its merchant, its members and how many consumers they are."""
    return {
        "group_id": str(group.id),
        "brand_id": group.brand_id,
        "group_key": group.group_key,
        "merchant": group.merchant,
        "category": group.category,
        "formed_at": group.formed_at,
        "member_count": group.member_count,
        "consumer_count": len({m.subject_ref for m in members}),
        "members": [
            {
                "complaint_id": str(m.complaint_id),
                "subject_ref": m.subject_ref,
                "status": m.status,
                "received_at": m.received_at.isoformat(),
            }
            for m in members
        ],
    }


def transfer_view(complaint: Complaint) -> dict[str, Any]:
    """What the regulator sees: the case's status and, once reported, its outcome."""
    regulator = complaint.regulator or {}
    return {
        "transfer_number": regulator.get("transfer_number"),
        "regulator_id": regulator.get("regulator_id"),
        "complaint_id": str(complaint.id),
        "brand_id": complaint.brand_id,
        "status": complaint.status,
        "received_at": complaint.created_on.isoformat(),
        "deadline_working_days": regulator.get("deadline_working_days"),
        "deadline_at": regulator.get("deadline_at"),
        # Contract 1.1: the date the law counts from (None: recorded before it was kept,
        # counted from `received_at`), and whether a year of the count was assumed Mon–Fri.
        "transferred_on": regulator.get("transferred_on"),
        "deadline_provisional": bool(regulator.get("deadline_provisional")),
        "deadline_revisions": list(getattr(complaint, "deadline_revisions", [])),
        "group_id": complaint.group_id,
        # Filled when followup reports the outcome back (RegulatorOutcomeReported).
        "outcome": None,
    }


def source_view(file: ConsumerFile) -> dict[str, Any]:
    """A contact source for ops: its contacts by outcome, nuisance flag and block."""
    outcomes = [c["outcome"] for c in file.contacts]
    return {
        "subject_ref": file.subject_ref,
        "brand_id": file.brand_id,
        "blocked": file.blocked,
        "blocked_reason": file.blocked_reason,
        "flagged": file.flagged,
        "flagged_reason": file.flagged_reason,
        "contacts": len(outcomes),
        "cases": outcomes.count("case"),
        "duplicates": outcomes.count("duplicate"),
        "nuisance": outcomes.count("nuisance"),
        "refused": file.refused,
    }
