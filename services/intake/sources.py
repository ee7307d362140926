"""Contact sources: ops look at who keeps contacting, flag nuisance, block harassment.

A flagged source's complaints go to the nuisance queue; a blocked one's are refused
(and counted). The automatic nuisance rule is `policies.nuisance_reason`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.intake.base import IntakeBase
from services.intake.commands import BlockSource, EraseSubject, FlagSource
from services.intake.domain import ConsumerFile
from services.intake.errors import SourceNotFound, SubjectNotFound
from services.intake.vault import DataSubject
from shared.inputs import ReceivedCommand
from shared.security import OpsClaims
from shared.store import derive_id


class Sources(IntakeBase):
    """Ops on contact sources (a consumer's file with a brand)."""

    def source(self, subject_ref: str, claims: OpsClaims) -> ConsumerFile:
        """A contact source's file, if the ops user may see its brand."""
        file: ConsumerFile | None = self.get_or_none(derive_id("consumer-file", subject_ref))
        if not isinstance(file, ConsumerFile) or not claims.can_see_brand(file.brand_id):
            raise SourceNotFound(f"source {subject_ref} not found")
        return file

    def register_sources(self) -> None:
        self.command("source.block", self._on_block)
        self.command("source.flag", self._on_flag)
        self.command("subject.erase", self._on_erase)

    def block_source(self, command: BlockSource) -> ConsumerFile:
        """Ops block a harassing source: its further contacts are refused and counted."""
        self.source(command.subject_ref, command.ops)  # may they? (a read, at the edge)
        args = {"subject_ref": command.subject_ref, "by": command.ops.sub, "reason": command.reason}
        file: ConsumerFile = self.execute("source.block", args, command.at)
        return file

    def _on_block(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> ConsumerFile:
        file = self._source_file(cmd.args["subject_ref"])
        args = cmd.args
        file.block(reason=args["reason"], blocked_by=args["by"], blocked_at=cmd.at.isoformat())
        processing.collect_events(file)
        return file

    def flag_source(self, command: FlagSource) -> ConsumerFile:
        """Ops flag a source as nuisance: its further complaints go to the nuisance queue."""
        self.source(command.subject_ref, command.ops)
        args = {"subject_ref": command.subject_ref, "by": command.ops.sub, "reason": command.reason}
        file: ConsumerFile = self.execute("source.flag", args, command.at)
        return file

    def _on_flag(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> ConsumerFile:
        file = self._source_file(cmd.args["subject_ref"])
        file.flag_nuisance(
            reason=cmd.args["reason"], flagged_by=cmd.args["by"], flagged_at=cmd.at.isoformat()
        )
        processing.collect_events(file)
        return file

    def erase_subject(self, command: EraseSubject) -> dict[str, Any]:
        """Erase a data subject (PIPL): destroy their key, then record who did it and when.

        The key goes first, at the edge (a replay re-records the erasure, never re-runs
        it): a crash between the two leaves the subject erased, and asking again records
        it. Erasing an erased subject again is harmless (`key_destroyed: false`).
        """
        subject = self._data_subject(command.subject_ref, command.ops)
        destroyed = self.vault.erase(command.subject_ref)
        args = {"subject_ref": command.subject_ref, "by": command.ops.sub, "destroyed": destroyed}
        self.execute("subject.erase", args, command.at)
        return {
            "subject_ref": command.subject_ref,
            "brand_id": subject.brand_id,
            "erased_at": command.at.isoformat(),
            "key_destroyed": destroyed,
        }

    def _on_erase(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        subject: DataSubject = self.repository.get(UUID(cmd.args["subject_ref"]))
        subject.erase(erased_by=cmd.args["by"], key_destroyed=cmd.args["destroyed"])
        processing.collect_events(subject)

    def _data_subject(self, subject_ref: str, claims: OpsClaims) -> DataSubject:
        subject = self.get_or_none(UUID(subject_ref))
        if not isinstance(subject, DataSubject) or not claims.can_see_brand(subject.brand_id):
            raise SubjectNotFound(f"data subject {subject_ref} not found")
        return subject

    def _source_file(self, subject_ref: str) -> ConsumerFile:
        file: ConsumerFile | None = self.get_or_none(derive_id("consumer-file", subject_ref))
        if not isinstance(file, ConsumerFile):
            raise SourceNotFound(f"source {subject_ref} not found")
        return file
