"""Group commit: many commands, or a run of upstream messages, in one database transaction.

`unit_of_work()` holds the write lock, pins one connection with an open transaction
(shared.batching) and commits once at the end; each command or message runs in
`step()`, a savepoint of its own: a step that raises is rolled back alone (its events,
tracking row and read-model rows), its recordings are forgotten and the aggregates it
read or saved are evicted from the repository cache, so the cache never serves state that
was not committed. Listeners are told after the commit only.

`submit(run)` is the combiner behind `ServiceApplication.execute`: concurrent callers
queue their command; the first to take the write lock leads and runs the queued commands
one after the other in one unit of work (bounded in count and time), then hands each
caller its own result or exception. A lone caller leads at once: no added latency.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar
from uuid import UUID

from shared.batching import PinnedDatastore, pinnable

T = TypeVar("T")
MAX_BATCH = 64  # commands per transaction
BATCH_BUDGET_S = 0.05  # stop taking queued commands into a batch after this much work


class UnitOfWork:
    """One open transaction: what was recorded in it and what the cache saw."""

    def __init__(self, pin: Any) -> None:
        self.pin = pin
        self.recordings: list[Any] = []
        self.touched: set[UUID] = set()  # aggregates read or saved by the current step
        self.steps = 0

    @contextmanager
    def step(self, evict: Callable[[set[UUID]], None]) -> Iterator[None]:
        """A savepoint: if the block raises, its writes, recordings and cached reads go."""
        mark, outer = len(self.recordings), self.touched
        self.touched = set()
        try:
            with self.pin.savepoint():
                yield
            self.steps += 1
        except BaseException:
            del self.recordings[mark:]
            evict(self.touched)
            raise
        finally:
            outer |= self.touched
            self.touched = outer


class _Ticket:
    __slots__ = ("done", "error", "result", "run", "wake")

    def __init__(self, run: Callable[[], Any]) -> None:
        self.run = run
        self.wake = threading.Event()  # done, or the lead is handed to this caller
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    """Mixin of ServiceApplication: units of work and the command combiner."""

    write_lock: threading.RLock
    recorder: Any
    repository: Any

    def _init_group_commit(self) -> None:
        self._uow = threading.local()
        self._queue: deque[_Ticket] = deque()
        self._queue_lock = threading.Lock()
        self._leading = False  # a caller is leading (or is about to): others wait
        self.batches = 0  # committed units of work
        self.batched = 0  # steps committed in them
        datastore = getattr(self.recorder, "datastore", None)
        self._datastore: PinnedDatastore | None = (
            datastore if datastore is not None and pinnable(datastore) else None
        )
        repository = self.repository
        if repository.cache is not None:  # note what each step reads through the cache
            get = repository.get

            def tracked_get(aggregate_id: UUID, *args: Any, **kwargs: Any) -> Any:
                work = self.current_unit_of_work()
                if work is not None:
                    work.touched.add(aggregate_id)
                return get(aggregate_id, *args, **kwargs)

            repository.get = tracked_get

    def _notify_now(self, recordings: list[Any]) -> None:
        raise NotImplementedError

    def current_unit_of_work(self) -> UnitOfWork | None:
        """The unit of work this thread leads, if any."""
        work: UnitOfWork | None = getattr(self._uow, "work", None)
        return work

    def _evict(self, aggregate_ids: set[UUID] | None) -> None:
        """Forget cached aggregates (None: all) whose state may not have been committed."""
        cache = self.repository.cache
        if cache is None:
            return
        if aggregate_ids is None:
            aggregate_ids = set(cache.cache)
        for aggregate_id in aggregate_ids:
            with suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork | None]:
        """One transaction for everything this thread records in the block (None: the
        store cannot pin, so every save commits on its own as before). Joins the thread's
        open unit of work if there is one."""
        with self.write_lock:
            current = self.current_unit_of_work()
            if current is not None or self._datastore is None:
                yield current
                return
            work: UnitOfWork | None = None
            try:
                with self._datastore.pin() as pin:
                    work = UnitOfWork(pin)
                    self._uow.work = work
                    try:
                        yield work
                    finally:
                        self._uow.work = None
            except BaseException:
                self._evict(None)  # nothing of this transaction was committed
                raise
            self.batches += 1
            self.batched += work.steps
            if work.recordings:
                self._notify_now(work.recordings)

    def step(self, work: UnitOfWork | None) -> Any:
        """A savepoint in `work` (a plain block when there is no unit of work)."""
        if work is None:
            return _nothing()
        return work.step(self._evict)

    def submit(self, run: Callable[[], T]) -> T:
        """Run `run` (records one command) in a group-committed transaction.

        One caller at a time leads: it takes the queued commands (its own first) and runs
        them in one unit of work; the others wait on their own ticket, not on the write
        lock, so a finished caller returns at once. The leader then hands the lead to the
        oldest waiting caller, who takes everything that queued meanwhile.
        """
        current = self.current_unit_of_work()
        if current is not None or self._datastore is None or _owns(self.write_lock):
            # nested in a unit of work, a store that cannot pin, or called under the lock
            with self.unit_of_work() as work, self.step(work):
                return run()
        ticket = _Ticket(run)
        with self._queue_lock:
            self._queue.append(ticket)
            lead = not self._leading
            self._leading = True
        if not lead:
            ticket.wake.wait()
        if not ticket.done:  # leading: this ticket is at the head of the queue
            self._lead()
        if ticket.error is not None:
            raise ticket.error
        result: T = ticket.result
        return result

    def _lead(self) -> None:
        tickets: list[_Ticket] = []
        try:
            with self.write_lock:
                with self._queue_lock:
                    count = min(MAX_BATCH, len(self._queue))
                    tickets = [self._queue.popleft() for _ in range(count)]
                self._run_batch(tickets)
        finally:
            for ticket in tickets:
                ticket.done = True
                ticket.wake.set()
            with self._queue_lock:  # hand the lead on, or give it up
                if self._queue:
                    self._queue[0].wake.set()
                else:
                    self._leading = False

    def _run_batch(self, tickets: list[_Ticket]) -> None:
        started = time.monotonic()
        try:
            with self.unit_of_work() as work:
                for index, ticket in enumerate(tickets):
                    if index and time.monotonic() - started > BATCH_BUDGET_S:
                        rest = tickets[index:]
                        with self._queue_lock:
                            self._queue.extendleft(reversed(rest))
                        del tickets[index:]
                        break
                    try:
                        with self.step(work):
                            ticket.result = ticket.run()
                    except Exception as error:
                        ticket.error = error
        except BaseException as error:  # the commit failed: nothing of the batch is there
            for ticket in tickets:
                ticket.result, ticket.error = None, error
            if not isinstance(error, Exception):
                raise


def _owns(lock: threading.RLock) -> bool:
    owned: bool = lock._is_owned()  # type: ignore[attr-defined]
    return owned


@contextmanager
def _nothing() -> Iterator[None]:
    yield
