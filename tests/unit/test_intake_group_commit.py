"""New subject keys queued while a commit is under way are written together, in one batch."""

from __future__ import annotations

import threading
import time

import pytest

from services.intake.vault import GroupCommit


def test_keys_queued_during_a_commit_go_in_the_next_batch_and_each_gets_its_own() -> None:
    batches: list[list[str]] = []
    first_started, release_first = threading.Event(), threading.Event()

    def write(keys: list[tuple[str, bytes]]) -> list[bytes]:
        batches.append([subject for subject, _ in keys])
        if len(batches) == 1:
            first_started.set()
            assert release_first.wait(10)
        return [key for _, key in keys]

    commit = GroupCommit(write)
    results: dict[str, bytes] = {}

    def put(subject: str) -> None:
        results[subject] = commit.put_new(subject, subject.encode())

    leader = threading.Thread(target=put, args=("s0",))
    leader.start()
    assert first_started.wait(10)
    followers = [threading.Thread(target=put, args=(f"s{n}",)) for n in range(1, 6)]
    for thread in followers:
        thread.start()
    while len(commit._queued) < 5:  # all five queued behind the commit in hand
        time.sleep(0.001)
    release_first.set()
    for thread in [leader, *followers]:
        thread.join(10)

    assert batches[0] == ["s0"]
    assert sorted(batches[1]) == [f"s{n}" for n in range(1, 6)]
    assert len(batches) == commit.batches == 2
    assert results == {f"s{n}": f"s{n}".encode() for n in range(6)}


def test_a_failed_batch_fails_every_caller_in_it_and_the_next_one_succeeds() -> None:
    fail = [True]

    def write(keys: list[tuple[str, bytes]]) -> list[bytes]:
        if fail.pop() if fail else False:
            raise OSError("disk full")
        return [key for _, key in keys]

    commit = GroupCommit(write)
    with pytest.raises(OSError, match="disk full"):
        commit.put_new("s1", b"k1")
    assert commit.put_new("s1", b"k1") == b"k1"
