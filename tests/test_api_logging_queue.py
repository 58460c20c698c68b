"""The prediction log writer on its own: batching, back-pressure, retries, shutdown, splitting
around refused records (dead letters) and durable group commit."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from driftscope.core.contracts.store import DeadLetter, PredictionRecord
from driftscope.core.errors import StoreError
from driftscope.core.serving.log_writer import (
    GROUP_ROWS,
    LoggingUnavailable,
    PredictionLogWriter,
    QueueFull,
    RecordsRefused,
)
from support.waiting import DEADLINE, wait_until_async

pytestmark = pytest.mark.anyio


class RecordingStore:
    """Records each batch (its size and when it was written); fails while ``failing`` is
    set; blocks while ``gate`` is clear."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.written_at: list[float] = []
        self.ids: list[str] = []
        self.failing = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def pass_gate(self) -> None:
        if not self.gate.wait(DEADLINE):
            raise AssertionError("the test never opened the store's gate")

    def write_predictions(self, records: Sequence[PredictionRecord]) -> int:
        self.pass_gate()
        if self.failing.is_set():
            raise StoreError("database is down")
        self.batches.append(len(records))
        self.written_at.append(time.monotonic())
        self.ids.extend(r.id for r in records)
        return len(records)


def _records(n: int, start: int = 0) -> list[PredictionRecord]:
    now = datetime.now(UTC)
    return [PredictionRecord(f"id{start + i}", "m", now, {"x": 1.0}, "1") for i in range(n)]


async def test_flushes_at_row_count_without_waiting_for_the_interval() -> None:
    store = RecordingStore()
    logger = PredictionLogWriter(store, flush_rows=10, flush_interval=60)  # type: ignore[arg-type]
    await logger.start()
    await logger.enqueue(_records(25))
    await asyncio.wait_for(logger.flush(), DEADLINE)
    assert store.batches == [25] and logger.written == 25 and logger.depth == 0
    await logger.close()


async def test_flushes_after_the_interval() -> None:
    store = RecordingStore()
    interval = 0.2
    logger = PredictionLogWriter(store, flush_rows=1000, flush_interval=interval)  # type: ignore[arg-type]
    await logger.start()
    queued_at = time.monotonic()
    await logger.enqueue(_records(3))
    # neither flush() nor close(): the writer writes on its own once the interval is over
    await wait_until_async(lambda: store.batches != [], what="the timed flush")
    assert store.batches == [3]
    # never before the interval (a busy machine can only make it later); 1 ms for the
    # event loop's clock resolution
    assert store.written_at[0] - queued_at >= interval - 0.001
    await logger.close()


async def test_close_writes_everything_in_order() -> None:
    store = RecordingStore()
    logger = PredictionLogWriter(store, flush_rows=7, flush_interval=60)  # type: ignore[arg-type]
    await logger.start()
    for i in range(20):
        await logger.enqueue(_records(3, start=3 * i))
    await logger.close()
    assert store.ids == [f"id{i}" for i in range(60)]
    assert (logger.queued, logger.written, logger.dropped) == (60, 60, 0)
    with pytest.raises(LoggingUnavailable):
        await logger.enqueue(_records(1))


async def test_full_queue_waits_then_refuses() -> None:
    store = RecordingStore()
    store.gate.clear()
    logger = PredictionLogWriter(  # type: ignore[arg-type]
        store, queue_size=100, flush_rows=1, flush_interval=0, enqueue_timeout=0.1
    )
    await logger.start()
    await logger.enqueue(_records(100))
    await wait_until_async(lambda: logger._in_flight == 100, what="the writer taking the rows")
    # the store is held, so the queue stays full for the whole enqueue_timeout
    with pytest.raises(QueueFull) as refused:
        await logger.enqueue(_records(1, start=100))
    assert refused.value.retry_after >= 1 and logger.rejected == 1
    # room that appears while waiting is taken
    logger.enqueue_timeout = DEADLINE
    waiting = asyncio.create_task(logger.enqueue(_records(5, start=200)))
    for _ in range(20):  # let the task run up to its wait for room (no thread involved)
        await asyncio.sleep(0)
    assert not waiting.done() and logger.queued == 100
    store.gate.set()
    await asyncio.wait_for(waiting, DEADLINE)
    await logger.close()
    assert logger.written == 105 and logger.dropped == 0 and logger.rejected == 1
    assert store.batches == [100, 5]


async def test_a_batch_larger_than_the_queue_goes_in_alone() -> None:
    store = RecordingStore()
    store.gate.clear()
    logger = PredictionLogWriter(  # type: ignore[arg-type]
        store, queue_size=100, flush_rows=50, enqueue_timeout=DEADLINE
    )
    await logger.start()
    # an empty queue takes a batch over its bound rather than refuse it for ever
    await logger.enqueue(_records(250))
    await wait_until_async(lambda: logger._in_flight == 250, what="the writer taking the rows")
    # while it is written, nothing joins it: the next request waits for an empty queue
    after = asyncio.create_task(logger.enqueue(_records(5, start=250)))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not after.done() and logger.queued == 250 and logger.depth == 250
    store.gate.set()
    await asyncio.wait_for(after, DEADLINE)
    await logger.close()
    # one write of exactly the 250 rows, never split, then the next request on its own
    assert store.batches == [250, 5]
    assert store.ids == [f"id{i}" for i in range(255)]
    assert logger.written == 255 and logger.rejected == 0


async def test_store_errors_are_retried_until_they_succeed() -> None:
    store = RecordingStore()
    store.failing.set()
    logger = PredictionLogWriter(  # type: ignore[arg-type]
        store, flush_rows=1, flush_interval=0, backoff_initial=0.01, backoff_max=0.02
    )
    await logger.start()
    await logger.enqueue(_records(4))
    await wait_until_async(lambda: logger.write_errors >= 2, what="two failed writes")
    assert not logger.healthy and store.batches == []
    assert logger.last_error == "StoreError: database is down" and logger.depth == 4
    store.failing.clear()
    await asyncio.wait_for(logger.flush(), DEADLINE)
    assert logger.healthy and store.ids == [f"id{i}" for i in range(4)]
    await logger.close()


async def test_close_gives_up_after_its_timeout_and_counts_the_drop() -> None:
    store = RecordingStore()
    store.failing.set()
    logger = PredictionLogWriter(  # type: ignore[arg-type]
        store, flush_interval=60, backoff_initial=0.01, backoff_max=0.02
    )
    await logger.start()
    await logger.enqueue(_records(6))
    await logger.close(timeout=0.1)
    assert logger.dropped == 6 and logger.written == 0


async def test_sync_mode_writes_before_returning_and_raises_on_failure() -> None:
    store = RecordingStore()
    logger = PredictionLogWriter(store, mode="sync")  # type: ignore[arg-type]
    await logger.submit(_records(2))
    assert store.ids == ["id0", "id1"]
    store.failing.set()
    with pytest.raises(LoggingUnavailable):
        await logger.submit(_records(1, start=2))
    assert not logger.healthy and logger.written == 2


class PickyStore(RecordingStore):
    """A store that refuses, as bad data, every batch holding an id in ``poison``; keeps
    dead letters in a list (or refuses them too when ``keeps_letters`` is false); and fails
    transiently ``outages`` times before any write."""

    def __init__(self, poison: set[str], *, keeps_letters: bool = True, outages: int = 0):
        super().__init__()
        self.poison = poison
        self.keeps_letters = keeps_letters
        self.outages = outages
        self.calls = 0
        self.letters: list[DeadLetter] = []

    def write_predictions(self, records: Sequence[PredictionRecord]) -> int:
        self.pass_gate()
        self.calls += 1
        if self.outages:
            self.outages -= 1
            raise StoreError("database is locked", transient=True)
        bad = [r.id for r in records if r.id in self.poison]
        if bad:
            raise StoreError(f"text fields cannot contain NUL ({bad[0]})", transient=False)
        return super().write_predictions(records)

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if not self.keeps_letters:
            raise StoreError("this store keeps no dead letters", transient=False)
        self.letters.extend(letters)

    def count_dead_letters(self) -> int:
        return len(self.letters)


async def test_a_refused_record_is_dead_lettered_and_the_rest_written_in_order() -> None:
    poison = {"id7", "id8", "id500", "id999"}
    store = PickyStore(poison)
    logger = PredictionLogWriter(store, flush_rows=5000, flush_interval=60)  # type: ignore[arg-type]
    await logger.start()
    await logger.enqueue(_records(1000))
    await asyncio.wait_for(logger.flush(), DEADLINE)
    expected = [f"id{i}" for i in range(1000) if f"id{i}" not in poison]
    assert store.ids == expected
    assert sorted(letter.record().id for letter in store.letters) == sorted(poison)
    assert all("cannot contain NUL" in letter.reason for letter in store.letters)
    assert (logger.written, logger.dead_lettered, logger.dropped) == (996, 4, 0)
    assert logger.healthy and logger.dead_letters_stored == 4
    # logging goes on
    await logger.enqueue(_records(3, start=2000))
    await asyncio.wait_for(logger.flush(), DEADLINE)
    assert store.ids[-3:] == ["id2000", "id2001", "id2002"]
    await logger.close()


async def test_transient_failures_are_retried_whole_never_split() -> None:
    store = PickyStore(set(), outages=3)
    logger = PredictionLogWriter(  # type: ignore[arg-type]
        store, flush_rows=100, flush_interval=60, backoff_initial=0.001, backoff_max=0.002
    )
    await logger.start()
    await logger.enqueue(_records(100))
    await asyncio.wait_for(logger.flush(), DEADLINE)
    assert store.batches == [100] and store.calls == 4 and not store.letters
    assert logger.write_errors == 3 and logger.dead_lettered == 0
    await logger.close()


async def test_a_store_without_dead_letters_drops_the_refused_record_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = PickyStore({"id1"}, keeps_letters=False)
    logger = PredictionLogWriter(store, flush_rows=3, flush_interval=60)  # type: ignore[arg-type]
    await logger.start()
    await logger.enqueue(_records(3))
    await asyncio.wait_for(logger.flush(), DEADLINE)
    assert store.ids == ["id0", "id2"] and logger.dropped == 1
    assert "prediction id1 of model m" in caplog.text and "dropped" in caplog.text
    await logger.close()


async def test_durable_answers_after_the_commit_and_groups_concurrent_requests() -> None:
    store = RecordingStore()
    store.gate.clear()
    logger = PredictionLogWriter(store, mode="durable", flush_interval=60)  # type: ignore[arg-type]
    await logger.start()
    first = asyncio.create_task(logger.submit(_records(1)))
    await wait_until_async(lambda: logger._in_flight == 1)
    others = [asyncio.create_task(logger.submit(_records(1, start=i))) for i in range(1, 17)]
    await wait_until_async(lambda: logger._buffer_rows == 16)
    assert not first.done() and not any(t.done() for t in others)
    assert store.ids == []  # nothing answered before its commit
    store.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *others), DEADLINE)
    # the flush interval (60 s) was not waited for; 16 requests shared one transaction
    assert store.batches == [1, 16]
    await logger.close()


async def _durable_after_a_group_of(
    requests: int,
) -> tuple[RecordingStore, PredictionLogWriter]:
    """A durable writer (60 s flush interval) whose last batch held ``requests`` requests
    of one row (ids id1..), after a first batch of one (id0)."""
    store = RecordingStore()
    store.gate.clear()
    logger = PredictionLogWriter(store, mode="durable", flush_interval=60)  # type: ignore[arg-type]
    await logger.start()
    first = asyncio.create_task(logger.submit(_records(1)))
    await wait_until_async(lambda: logger._in_flight == 1)
    group = [
        asyncio.create_task(logger.submit(_records(1, start=i))) for i in range(1, requests + 1)
    ]
    await wait_until_async(lambda: logger._buffer_rows == requests)
    store.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *group), DEADLINE)
    assert store.batches == [1, requests]
    return store, logger


async def test_durable_waits_for_as_many_requests_as_the_last_batch_held() -> None:
    store, logger = await _durable_after_a_group_of(16)
    # the last batch held 16 requests: 15 wait (on the loop, no thread involved) for a 16th
    group = [asyncio.create_task(logger.submit(_records(1, start=i))) for i in range(20, 35)]
    await wait_until_async(lambda: logger.queued == 32, what="15 more requests queued")
    for _ in range(50):  # the writer's chance to take them, were it to (no thread involved)
        await asyncio.sleep(0)
    assert logger._buffer_rows == 15 and logger._in_flight == 0 and store.batches == [1, 16]
    group.append(asyncio.create_task(logger.submit(_records(1, start=35))))
    await asyncio.wait_for(asyncio.gather(*group), DEADLINE)
    assert store.batches == [1, 16, 16]
    await logger.close()


async def test_durable_writes_a_group_of_many_rows_without_waiting_for_more_requests() -> None:
    """A group whose rows cost more than its commit (GROUP_ROWS) is written at once: while
    it commits, the loop decodes and scores the next requests, instead of idling until as
    many requests as the last group held have come."""
    store, logger = await _durable_after_a_group_of(4)  # the next group would wait for 4
    almost = asyncio.create_task(logger.submit(_records(GROUP_ROWS - 1, start=10)))
    await wait_until_async(lambda: logger.queued == 5 + GROUP_ROWS - 1, what="rows queued")
    # the writer task was not told to take them (it only takes a buffer on that signal or
    # after the 60 s interval), and nothing is being written
    assert not logger._batch_ready.is_set() and logger._in_flight == 0
    assert not almost.done() and store.batches == [1, 4]
    last_row = asyncio.create_task(logger.submit(_records(1, start=10_000)))
    await asyncio.wait_for(asyncio.gather(almost, last_row), DEADLINE)  # not the 60 s wait
    assert store.batches == [1, 4, GROUP_ROWS]
    await logger.close()


async def test_durable_fails_only_the_request_whose_record_was_refused() -> None:
    store = PickyStore({"id3"})
    store.gate.clear()
    logger = PredictionLogWriter(store, mode="durable")  # type: ignore[arg-type]
    await logger.start()
    blocker = asyncio.create_task(logger.submit(_records(1, start=100)))
    await wait_until_async(lambda: logger._in_flight == 1)
    tasks = [asyncio.create_task(logger.submit(_records(2, start=2 * i))) for i in range(3)]
    await wait_until_async(lambda: logger._buffer_rows == 6)
    store.gate.set()
    results = await asyncio.wait_for(
        asyncio.gather(blocker, *tasks, return_exceptions=True), DEADLINE
    )
    assert results[0] is None and results[1] is None and results[3] is None
    refused = results[2]
    assert isinstance(refused, RecordsRefused) and list(refused.refused) == ["id3"]
    assert "kept as dead letters" in str(refused)
    assert sorted(store.ids) == sorted(["id100", "id0", "id1", "id2", "id4", "id5"])
    await logger.close()


async def test_sync_mode_writes_the_good_records_and_names_the_refused_one() -> None:
    store = PickyStore({"id1"})
    logger = PredictionLogWriter(store, mode="sync")  # type: ignore[arg-type]
    with pytest.raises(RecordsRefused) as refused:
        await logger.submit(_records(3))
    assert list(refused.value.refused) == ["id1"] and store.ids == ["id0", "id2"]
    assert [letter.record().id for letter in store.letters] == ["id1"]


async def test_durable_requests_fail_rather_than_hang_when_the_writer_stops() -> None:
    store = RecordingStore()
    store.gate.clear()
    logger = PredictionLogWriter(store, mode="durable")  # type: ignore[arg-type]
    await logger.start()
    first = asyncio.create_task(logger.submit(_records(1)))
    await wait_until_async(lambda: logger._in_flight == 1)
    second = asyncio.create_task(logger.submit(_records(1, start=1)))
    await wait_until_async(lambda: logger._buffer_rows == 1)
    assert logger._task is not None
    logger._task.cancel()
    with pytest.raises(LoggingUnavailable, match="writer stopped"):
        await asyncio.wait_for(second, DEADLINE)
    with pytest.raises(LoggingUnavailable, match="writer stopped"):
        await asyncio.wait_for(first, DEADLINE)
    store.gate.set()
    await logger.close()
    assert logger.dropped == 2  # counted, never silently lost
