"""The prediction log writer: a bounded in-process queue that batches records into the store.

Requests never wait for the database. They append records to a buffer bounded in rows
(``api.queue_size``); one writer task takes the whole buffer when it reaches
``api.flush_rows`` or when its oldest record is ``api.flush_interval`` old, and writes it
with ``Store.write_predictions`` on a dedicated thread. When the buffer is full a request
waits up to ``api.enqueue_timeout`` for room and then gets :class:`QueueFull` (the API
answers 503 with Retry-After): a record is never dropped silently. A failed write is retried
with exponential backoff until it succeeds; meanwhile ``healthy`` is false and ``last_error``
says why, for /readyz and /metrics. ``close()`` writes everything still queued.

With ``api.logging: sync`` a request's records are written before it is answered instead.

All coroutines must run on one event loop (the API's); the store runs on worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from driftscope.core.config.yaml_file import ApiConfig
from driftscope.core.contracts.store import PredictionRecord, Store
from driftscope.core.errors import DriftscopeError

log = logging.getLogger(__name__)


class LoggingUnavailable(DriftscopeError):
    """Records could not be accepted for logging; the request should be retried later."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueFull(LoggingUnavailable):
    """The log queue stayed full for ``enqueue_timeout``."""


class PredictionLogger:
    """Bounded, batching writer of prediction records (see the module docstring).

    Counters (rows): ``queued`` accepted, ``written`` committed to the store, ``dropped``
    given up at shutdown because the store never came back (stays 0 otherwise),
    ``rejected`` refused with :class:`QueueFull`; ``depth`` rows accepted but not yet
    written; ``write_errors`` failed write attempts.
    """

    def __init__(
        self,
        store: Store,
        *,
        mode: Literal["async", "sync"] = "async",
        queue_size: int = 100_000,
        flush_rows: int = 2_000,
        flush_interval: float = 0.02,
        enqueue_timeout: float = 2.0,
        backoff_initial: float = 0.05,
        backoff_max: float = 5.0,
    ) -> None:
        self.store = store
        self.mode = mode
        self.queue_size = queue_size
        self.flush_rows = flush_rows
        self.flush_interval = flush_interval
        self.enqueue_timeout = enqueue_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.queued = 0
        self.written = 0
        self.dropped = 0
        self.rejected = 0
        self.write_errors = 0
        self.batches = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self._failing = False
        self._buffer: list[PredictionRecord] = []
        self._in_flight = 0
        self._first_at = 0.0
        self._accepted_seq = 0  # rows ever accepted
        self._done_seq = 0  # rows ever written (or dropped)
        self._closing = False
        self._close_deadline = float("inf")
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._data = asyncio.Event()
        self._batch_ready = asyncio.Event()
        self._changed = asyncio.Condition()

    @classmethod
    def from_config(cls, store: Store, api: ApiConfig) -> PredictionLogger:
        """A logger with the ``api:`` block's mode, bounds and flush policy."""
        return cls(
            store,
            mode=api.logging,
            queue_size=api.queue_size,
            flush_rows=api.flush_rows,
            flush_interval=api.flush_interval.total_seconds(),
            enqueue_timeout=api.enqueue_timeout.total_seconds(),
        )

    # -- state ---------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Rows accepted and not yet written (buffered plus the batch being written)."""
        return len(self._buffer) + self._in_flight

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def healthy(self) -> bool:
        """False while writes fail, or when the writer is not running in async mode."""
        if self._failing:
            return False
        return self.mode == "sync" or self.running

    def _retry_after(self) -> float:
        return max(1.0, round(self.flush_interval + (self.backoff_max if self._failing else 0)))

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the writer task (and its thread) on the running loop."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="driftscope-log-writer")
        self._task = asyncio.create_task(self._run(), name="driftscope-log-writer")

    async def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop. Records still unwritten after ``timeout``
        (the store never came back) are counted in ``dropped`` and logged as an error."""
        self._closing = True
        loop = asyncio.get_running_loop()
        self._close_deadline = loop.time() + timeout
        self._data.set()
        self._batch_ready.set()
        if self._task is not None:
            await self._task
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        log.info("prediction log closed: %d rows written, %d dropped", self.written, self.dropped)

    # -- accepting records ---------------------------------------------------------------------
    async def submit(self, records: Sequence[PredictionRecord]) -> None:
        """Log records: queue them (async mode) or write them now (sync mode)."""
        if self.mode == "sync":
            await self.write_now(records)
        else:
            await self.enqueue(records)

    def _fits(self, rows: int) -> bool:
        # an empty queue takes any batch, so a batch larger than the bound is never refused
        return self.depth == 0 or self.depth + rows <= self.queue_size

    async def enqueue(self, records: Sequence[PredictionRecord]) -> None:
        """Queue records; wait up to ``enqueue_timeout`` for room, else :class:`QueueFull`."""
        if not records:
            return
        if self._closing or not self.running:
            raise LoggingUnavailable("the prediction log is not running", 1.0)
        rows = len(records)
        if not self._fits(rows):
            try:
                async with asyncio.timeout(self.enqueue_timeout), self._changed:
                    await self._changed.wait_for(lambda: self._fits(rows) or self._closing)
            except TimeoutError:
                self.rejected += rows
                raise QueueFull(
                    f"the prediction log queue is full ({self.depth} rows waiting)",
                    self._retry_after(),
                ) from None
            if self._closing:
                raise LoggingUnavailable("the prediction log is shutting down", 1.0)
        if not self._buffer:
            self._first_at = time.monotonic()
            self._data.set()
        self._buffer.extend(records)
        self.queued += rows
        self._accepted_seq += rows
        if len(self._buffer) >= self.flush_rows:
            self._batch_ready.set()

    async def write_now(self, records: Sequence[PredictionRecord]) -> None:
        """Write records before returning (``logging: sync``); a failure raises
        :class:`LoggingUnavailable` and nothing of the batch is stored."""
        if not records:
            return
        try:
            await asyncio.to_thread(self.store.write_predictions, records)
        except Exception as exc:
            self._record_failure(exc)
            raise LoggingUnavailable(
                "the prediction could not be logged: the store is unavailable", 1.0
            ) from exc
        self._failing = False
        self.queued += len(records)
        self.written += len(records)
        self.batches += 1

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every record accepted so far is written (:class:`LoggingUnavailable`
        after ``timeout``, default ``enqueue_timeout``)."""
        if self.mode == "sync" or self._done_seq >= self._accepted_seq:
            return
        target = self._accepted_seq
        self._batch_ready.set()
        try:
            async with asyncio.timeout(timeout or self.enqueue_timeout), self._changed:
                await self._changed.wait_for(lambda: self._done_seq >= target)
        except TimeoutError:
            raise LoggingUnavailable(
                "queued predictions could not be written in time", self._retry_after()
            ) from None

    # -- the writer ----------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._loop is not None
        while True:
            if not self._buffer:
                if self._closing:
                    return
                self._data.clear()
                await self._data.wait()
                continue
            if len(self._buffer) < self.flush_rows and not self._closing:
                delay = self._first_at + self.flush_interval - time.monotonic()
                if delay > 0:
                    self._batch_ready.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._batch_ready.wait()
            batch, self._buffer = self._buffer, []
            self._in_flight = len(batch)
            await self._write(batch)
            self._in_flight = 0
            self._done_seq += len(batch)
            async with self._changed:
                self._changed.notify_all()

    async def _write(self, batch: list[PredictionRecord]) -> None:
        assert self._loop is not None
        attempt = 0
        while True:
            try:
                await self._loop.run_in_executor(
                    self._executor, self.store.write_predictions, batch
                )
            except Exception as exc:
                self._record_failure(exc)
                if self._closing and self._loop.time() >= self._close_deadline:
                    self.dropped += len(batch)
                    log.error(
                        "prediction log: gave up on %d rows at shutdown, the store is still "
                        "failing: %s",
                        len(batch),
                        self.last_error,
                    )
                    return
                delay = min(self.backoff_initial * 2**attempt, self.backoff_max)
                if self._closing:
                    delay = min(delay, max(self._close_deadline - self._loop.time(), 0.0))
                attempt += 1
                await asyncio.sleep(delay)
                continue
            if self._failing:
                log.info("prediction log: the store accepts writes again")
            self._failing = False
            self.written += len(batch)
            self.batches += 1
            return

    def _record_failure(self, exc: BaseException) -> None:
        self.write_errors += 1
        self._failing = True
        self.last_error = f"{type(exc).__name__}: {exc}"[:500]
        self.last_error_at = time.time()
        log.warning("prediction log: writing to the store failed: %s", self.last_error)
