"""The prediction log writer on its own: batching, back-pressure, retries, shutdown."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from driftscope.core.contracts.store import PredictionRecord
from driftscope.core.errors import StoreError
from driftscope.core.serving.log_writer import LoggingUnavailable, PredictionLogger, QueueFull

pytestmark = pytest.mark.anyio


class RecordingStore:
    """Records each batch; fails while ``failing`` is set; blocks while ``gate`` is clear."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.ids: list[str] = []
        self.failing = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def write_predictions(self, records: Sequence[PredictionRecord]) -> int:
        self.gate.wait(10)
        if self.failing.is_set():
            raise StoreError("database is down")
        self.batches.append(len(records))
        self.ids.extend(r.id for r in records)
        return len(records)


def _records(n: int, start: int = 0) -> list[PredictionRecord]:
    now = datetime.now(UTC)
    return [PredictionRecord(f"id{start + i}", "m", now, {"x": 1.0}, "1") for i in range(n)]


async def test_flushes_at_row_count_without_waiting_for_the_interval() -> None:
    store = RecordingStore()
    logger = PredictionLogger(store, flush_rows=10, flush_interval=60)  # type: ignore[arg-type]
    await logger.start()
    await logger.enqueue(_records(25))
    await asyncio.wait_for(logger.flush(), 2)
    assert store.batches == [25] and logger.written == 25 and logger.depth == 0
    await logger.close()


async def test_flushes_after_the_interval() -> None:
    store = RecordingStore()
    logger = PredictionLogger(store, flush_rows=1000, flush_interval=0.05)  # type: ignore[arg-type]
    await logger.start()
    await logger.enqueue(_records(3))
    await asyncio.sleep(0.02)
    assert store.batches == []
    await asyncio.sleep(0.1)
    assert store.batches == [3]
    await logger.close()


async def test_close_writes_everything_in_order() -> None:
    store = RecordingStore()
    logger = PredictionLogger(store, flush_rows=7, flush_interval=60)  # type: ignore[arg-type]
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
    logger = PredictionLogger(  # type: ignore[arg-type]
        store, queue_size=100, flush_rows=1, flush_interval=0, enqueue_timeout=0.1
    )
    await logger.start()
    await logger.enqueue(_records(100))
    await asyncio.sleep(0.02)
    with pytest.raises(QueueFull) as refused:
        await logger.enqueue(_records(1, start=100))
    assert refused.value.retry_after >= 1 and logger.rejected == 1
    # room that appears while waiting is taken
    waiting = asyncio.create_task(logger.enqueue(_records(5, start=200)))
    await asyncio.sleep(0.02)
    store.gate.set()
    await asyncio.wait_for(waiting, 2)
    await logger.close()
    assert logger.written == 105 and logger.dropped == 0


async def test_a_batch_larger_than_the_queue_goes_in_alone() -> None:
    store = RecordingStore()
    logger = PredictionLogger(store, queue_size=100, flush_rows=50)  # type: ignore[arg-type]
    await logger.start()
    await logger.enqueue(_records(250))
    await logger.close()
    assert logger.written == 250


async def test_store_errors_are_retried_until_they_succeed() -> None:
    store = RecordingStore()
    store.failing.set()
    logger = PredictionLogger(  # type: ignore[arg-type]
        store, flush_rows=1, flush_interval=0, backoff_initial=0.01, backoff_max=0.02
    )
    await logger.start()
    await logger.enqueue(_records(4))
    await asyncio.sleep(0.1)
    assert not logger.healthy and logger.write_errors >= 2
    assert logger.last_error == "StoreError: database is down" and logger.depth == 4
    store.failing.clear()
    await asyncio.wait_for(logger.flush(), 2)
    assert logger.healthy and store.ids == [f"id{i}" for i in range(4)]
    await logger.close()


async def test_close_gives_up_after_its_timeout_and_counts_the_drop() -> None:
    store = RecordingStore()
    store.failing.set()
    logger = PredictionLogger(  # type: ignore[arg-type]
        store, flush_interval=60, backoff_initial=0.01, backoff_max=0.02
    )
    await logger.start()
    await logger.enqueue(_records(6))
    await logger.close(timeout=0.1)
    assert logger.dropped == 6 and logger.written == 0


async def test_sync_mode_writes_before_returning_and_raises_on_failure() -> None:
    store = RecordingStore()
    logger = PredictionLogger(store, mode="sync")  # type: ignore[arg-type]
    await logger.submit(_records(2))
    assert store.ids == ["id0", "id1"]
    store.failing.set()
    with pytest.raises(LoggingUnavailable):
        await logger.submit(_records(1, start=2))
    assert not logger.healthy and logger.written == 2
