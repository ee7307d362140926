"""Contact sources: ops look at who keeps contacting, flag nuisance, block harassment.

A flagged source's complaints go to the nuisance queue; a blocked one's are refused
(and counted). The automatic nuisance rule is `policies.nuisance_reason`.
"""

from __future__ import annotations

from services.intake.base import IntakeBase
from services.intake.commands import BlockSource, FlagSource
from services.intake.domain import ConsumerFile
from services.intake.errors import SourceNotFound
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

    def block_source(self, command: BlockSource) -> ConsumerFile:
        """Ops block a harassing source: its further contacts are refused and counted."""

        def run() -> ConsumerFile:
            file = self.source(command.subject_ref, command.ops)
            file.block(
                reason=command.reason,
                blocked_by=command.ops.sub,
                blocked_at=command.at.isoformat(),
            )
            self.save(file)
            return file

        return self.run_command(run)

    def flag_source(self, command: FlagSource) -> ConsumerFile:
        """Ops flag a source as nuisance: its further complaints go to the nuisance queue."""

        def run() -> ConsumerFile:
            file = self.source(command.subject_ref, command.ops)
            file.flag_nuisance(
                reason=command.reason,
                flagged_by=command.ops.sub,
                flagged_at=command.at.isoformat(),
            )
            self.save(file)
            return file

        return self.run_command(run)
