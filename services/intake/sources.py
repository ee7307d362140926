"""Contact sources: ops look at who keeps contacting, flag nuisance, block harassment.

A flagged source's complaints go to the nuisance queue; a blocked one's are refused
(and counted). The automatic nuisance rule is `policies.nuisance_reason`.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.intake.base import IntakeBase
from services.intake.commands import BlockSource, FlagSource
from services.intake.domain import ConsumerFile
from services.intake.errors import SourceNotFound
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

    def _source_file(self, subject_ref: str) -> ConsumerFile:
        file: ConsumerFile | None = self.get_or_none(derive_id("consumer-file", subject_ref))
        if not isinstance(file, ConsumerFile):
            raise SourceNotFound(f"source {subject_ref} not found")
        return file
