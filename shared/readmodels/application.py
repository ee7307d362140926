"""The application side of read models: declared tables, row writes derived on every save.

An application lists its tables in `read_model_tables`; `read_model_writes` turns what a
save or a processed upstream event collected into row writes, so every path that records
events (commands, upstream events, dead letters) keeps the tables in step, in the same
transaction. Handlers may also add writes of their own with `add_writes`; those run after
the derived ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import InfrastructureFactory, Recording

from shared.readmodels.recorders import ReadModelRecorder
from shared.readmodels.schema import (
    WRITES_KWARG,
    ReadModelError,
    RowWrite,
    Table,
    collect_writes,
)

RECORDER_TOPICS = {
    "eventsourcing.sqlite": "shared.readmodels.recorders:SQLiteReadModelRecorder",
    "eventsourcing.postgres": "shared.readmodels.recorders:PostgresReadModelRecorder",
}


def recorder_topic(persistence_module: str) -> str | None:
    """The process recorder that keeps read models for a `PERSISTENCE_MODULE` (None: none)."""
    return RECORDER_TOPICS.get(persistence_module)


def add_writes(processing_event: ProcessingEvent[Any], *writes: RowWrite) -> None:
    """Commit `writes` with this processing event's new events and tracking position."""
    collect_writes(processing_event.saved_kwargs, writes)


class ReadModelApplication:
    """Mixin for an eventsourcing application whose read models live in its own store."""

    read_model_tables: ClassVar[tuple[Table, ...]] = ()
    factory: InfrastructureFactory[Any]

    def construct_recorder(self) -> Any:
        factory = self.factory
        if not factory.env.get("PROCESS_RECORDER_TOPIC"):
            topic = recorder_topic(type(factory).__module__)
            if topic is not None:
                factory.env["PROCESS_RECORDER_TOPIC"] = topic
        recorder = super().construct_recorder()  # type: ignore[misc]
        if isinstance(recorder, ReadModelRecorder):
            recorder.create_read_model_tables(self.read_model_tables)
        elif self.read_model_tables:
            raise ReadModelError(
                f"{type(self).__name__} keeps read models: use eventsourcing.sqlite or "
                f"eventsourcing.postgres, not {type(recorder).__name__}"
            )
        return recorder

    @property
    def read_models(self) -> ReadModelRecorder:
        """The store's read-model tables: pages, rows, counts and leases (blocking calls)."""
        recorder = getattr(self, "recorder")  # noqa: B009
        if not isinstance(recorder, ReadModelRecorder):
            raise ReadModelError(f"{type(self).__name__} has no read-model store")
        return recorder

    def read_model_writes(self, processing_event: ProcessingEvent[Any]) -> Sequence[RowWrite]:
        """Row writes that follow from what is about to be recorded (override per service)."""
        return ()

    def _record(self, processing_event: ProcessingEvent[Any]) -> list[Recording[Any]]:
        derived = list(self.read_model_writes(processing_event))
        if derived:  # first, so that a handler's own writes can refine the derived rows
            kwargs = processing_event.saved_kwargs
            kwargs[WRITES_KWARG] = derived + list(kwargs.get(WRITES_KWARG, ()))
        recordings: list[Recording[Any]] = super()._record(processing_event)  # type: ignore[misc]
        return recordings
