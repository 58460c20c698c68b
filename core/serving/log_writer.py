"""The prediction log writer: a bounded in-process queue that batches records into the store.

Requests never wait for the database. They append records to a buffer bounded in rows
(``api.queue_size``); one writer task takes the whole buffer when it reaches
``api.flush_rows`` or when its oldest record is ``api.flush_interval`` old, and writes it
with ``Store.write_predictions`` on a dedicated thread. When the buffer is full a request
waits up to ``api.enqueue_timeout`` for room and then gets :class:`QueueFull` (the API
answers 503 with Retry-After): a record is never dropped silently. ``close()`` writes
everything still queued.

A failed write is classified (:func:`is_transient`). A transient failure (the connection was
lost, the database is locked) is retried with exponential backoff until it succeeds;
meanwhile ``healthy`` is false and ``last_error`` says why, for /readyz and /metrics. Any
other failure means some record of the batch cannot be stored, and retrying it would stop
logging for good: the batch is split in halves until each refused record stands alone, the
rest is written, and each refused record goes to the store's dead-letter table with the
reason (``driftscope deadletter list|replay|drop``).

``api.logging`` picks when a request is answered:

* ``async``: once its records are queued (a crash loses what is still queued);
* ``durable``: once the batch holding its records has committed (group commit: concurrent
  requests share one transaction; see :meth:`PredictionLogWriter._batch_full` for when a batch
  starts, and :meth:`PredictionLogWriter._lead` for a lone request that commits its own). A
  record that was dead-lettered instead makes the request fail with :class:`RecordsRefused`;
* ``sync``: each request writes its own records before it is answered.

All coroutines must run on one event loop (the API's); the store runs on worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, TypeVar

from driftscope.core.config.yaml_file import ApiConfig
from driftscope.core.contracts.store import (
    DeadLetter,
    PredictionBatch,
    PredictionRecord,
    Store,
    ascii_text,
)
from driftscope.core.errors import DriftscopeError, StoreError

T = TypeVar("T")
now = partial(datetime.now, UTC)
LoggingMode = Literal["async", "sync", "durable"]
#: The most rows written on the event loop when the store can write them at once (as many as
#: the service scores there): a larger batch would hold up requests longer than a thread hop.
QUICK_ROWS = 64
#: A durable group of this many rows is written without waiting for more requests: its rows
#: cost the writer thread several times a commit, and while they are written the loop decodes
#: and scores the next requests (1,000-row batches from 4 clients: 1.96x the rate of the code
#: before issue 14 waiting for the group, 2.28x not waiting).
GROUP_ROWS = 512
#: A durable request leading a group of its own yields for others to join it once in this
#: many groups (see PredictionLogWriter._lead).
LEAD_PROBE_EVERY = 8

log = logging.getLogger(__name__)


class LoggingUnavailable(DriftscopeError):
    """Records could not be accepted for logging; the request should be retried later."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueFull(LoggingUnavailable):
    """The log queue stayed full for ``enqueue_timeout``."""


class RecordsRefused(DriftscopeError):
    """The store refused some records for a reason other than an outage (``durable`` and
    ``sync`` modes). The other records are stored; each refused one is kept as a dead letter
    (unless ``kept`` is false: the store keeps none). ``refused`` maps record ids to reasons."""

    def __init__(self, refused: dict[str, str], *, kept: bool = True) -> None:
        self.refused = refused
        self.kept = kept
        first = next(iter(refused.values()), "")
        super().__init__(
            f"the store refused {len(refused)} record(s)"
            + (", kept as dead letters" if kept else "")
            + f": {first}"
        )


def record_ids(records: Sequence[PredictionRecord]) -> list[str]:
    """The ids of ``records``, without building a :class:`PredictionBatch`'s records."""
    if isinstance(records, PredictionBatch):
        return list(records.ids)
    return [record.id for record in records]


def is_transient(exc: BaseException) -> bool:
    """Whether a failed write may succeed if tried again. A store says so on its
    :class:`StoreError` (``transient``); an unclassified ``StoreError`` and connection and
    time-out errors count as transient, so an outage is never mistaken for bad data; any
    other exception is about the data (a value the driver cannot encode, say)."""
    if isinstance(exc, StoreError):
        return exc.transient is not False
    return isinstance(exc, ConnectionError | TimeoutError)


@dataclass
class _Waiter:
    """A ``durable`` request waiting for the batch holding rows up to ``end`` to commit."""

    end: int
    future: asyncio.Future[None]
    ids: list[str]


@dataclass
class _Outcome:
    """What became of one batch: records refused (id -> reason), and whether the batch
    was given up at shutdown or failed in ``sync`` mode."""

    refused: dict[str, str] = field(default_factory=dict)
    kept: bool = True
    failed: bool = False


class PredictionLogWriter:
    """Bounded, batching writer of prediction records (see the module docstring).

    Counters (rows): ``queued`` accepted, ``written`` committed to the store, ``dropped``
    given up at shutdown because the store never came back, or refused by a store that keeps
    no dead letters (stays 0 otherwise), ``rejected`` refused with :class:`QueueFull`,
    ``dead_lettered`` refused by the store and kept as dead letters; ``depth`` rows accepted
    but not yet written; ``write_errors`` failed write attempts. ``dead_letters_stored`` is
    the store's dead-letter count as last read (at start and after each dead letter).
    """

    def __init__(
        self,
        store: Store,
        *,
        mode: LoggingMode = "async",
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
        self.dead_lettered = 0
        self.dead_letters_stored = 0
        self.last_dead_letter: str | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self._failing = False
        # each request's records as it handed them over (a PredictionBatch stays one)
        self._buffer: list[Sequence[PredictionRecord]] = []
        self._buffer_rows = 0
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
        # futures of coroutines waiting for the writer to move on (room, a flush)
        self._progress: list[asyncio.Future[None]] = []
        self._leading = False  # a durable request is about to commit its group itself
        self._leads = 0  # durable groups led by a request (see _lead)
        self._waiters: deque[_Waiter] = deque()
        self._buffer_requests = 0  # requests with rows in the buffer
        self._last_group = 1  # requests in the last batch taken (durable group commit)

    @classmethod
    def from_config(cls, store: Store, api: ApiConfig) -> PredictionLogWriter:
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
        return self._buffer_rows + self._in_flight

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def healthy(self) -> bool:
        """False while writes fail, or when the writer is not running (async, durable)."""
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
        self._task.add_done_callback(self._writer_stopped)
        await self._count_dead_letters()

    async def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop. Records still unwritten after ``timeout``
        (the store never came back) are counted in ``dropped`` and logged as an error."""
        self._closing = True
        loop = asyncio.get_running_loop()
        self._close_deadline = loop.time() + timeout
        self._data.set()
        self._batch_ready.set()
        if self._task is not None and not self._task.done():
            await self._task
        left = self._buffer_rows + self._in_flight
        if left:  # only when the writer died: it writes everything queued before it ends
            self.dropped += left
            log.error("prediction log: %d queued rows were never written", left)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        log.info("prediction log closed: %d rows written, %d dropped", self.written, self.dropped)

    def _writer_stopped(self, task: asyncio.Task[None]) -> None:
        # a writer that died of a bug must not leave durable requests waiting for ever
        if not task.cancelled() and task.exception() is not None:
            log.error("prediction log writer stopped", exc_info=task.exception())
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(
                    LoggingUnavailable("the prediction log writer stopped", 1.0)
                )
                waiter.future.exception()

    # -- accepting records ---------------------------------------------------------------------
    async def submit(self, records: Sequence[PredictionRecord]) -> None:
        """Log records: queue them (``async``), queue them and wait for their batch to commit
        (``durable``), or write them now (``sync``)."""
        if self.mode == "sync":
            await self.write_now(records)
        elif self.mode == "durable":
            await self.enqueue(records, wait=True)
        else:
            await self.enqueue(records)

    def _fits(self, rows: int) -> bool:
        # an empty queue takes any batch, so a batch larger than the bound is never refused
        return self.depth == 0 or self.depth + rows <= self.queue_size

    async def enqueue(self, records: Sequence[PredictionRecord], *, wait: bool = False) -> None:
        """Queue records; wait up to ``enqueue_timeout`` for room, else :class:`QueueFull`.

        With ``wait``, return only once the batch holding them has committed; raise
        :class:`RecordsRefused` when some were dead-lettered instead, and
        :class:`LoggingUnavailable` when they were given up at shutdown.
        """
        if not records:
            return
        if self._closing or not self.running:
            raise LoggingUnavailable("the prediction log is not running", 1.0)
        rows = len(records)
        if not self._fits(rows):
            try:
                await self._wait_until(
                    lambda: self._fits(rows) or self._closing, self.enqueue_timeout
                )
            except TimeoutError:
                self.rejected += rows
                raise QueueFull(
                    f"the prediction log queue is full ({self.depth} rows waiting)",
                    self._retry_after(),
                ) from None
            if self._closing:
                raise LoggingUnavailable("the prediction log is shutting down", 1.0)
        # a durable request that finds the writer idle and the last group alone commits its
        # group itself (see _lead), instead of waking the writer task
        lead = (
            wait
            and self.mode == "durable"
            and self._last_group <= 1
            and not self._buffer
            and not self._in_flight
            and not self._leading
        )
        probe = False  # the leader yields once for others to join its group (see _lead)
        if lead:
            self._leads += 1
            probe = self._leads % LEAD_PROBE_EVERY == 1
            if not probe and self._write_quickly(records):
                self._accepted(rows)
                self._done_seq += rows
                return
        if not self._buffer:
            self._first_at = time.monotonic()
            if not probe:
                self._data.set()
        self._buffer.append(records)
        self._buffer_rows += rows
        self._buffer_requests += 1
        self._accepted(rows)
        if self._batch_full():
            self._batch_ready.set()
        if not wait:
            return
        assert self._loop is not None
        waiter = _Waiter(self._accepted_seq, self._loop.create_future(), record_ids(records))
        self._waiters.append(waiter)
        if probe:
            await self._lead()
        # the record is in the batch whatever happens to the request now: a client that hangs
        # up does not cancel its write, and the future is awaited through a shield
        await asyncio.shield(waiter.future)

    def _accepted(self, rows: int) -> None:
        self.queued += rows
        self._accepted_seq += rows

    async def _lead(self) -> None:
        """Commit the buffer on the loop as the leader of a durable group.

        A single client's request would otherwise wake the writer task and wait for it to
        wake the request again: three more turns of the event loop, more than the commit
        itself. The first leader, and every :data:`LEAD_PROBE_EVERY`-th after it, probes:
        it yields once, so that the requests the loop has ready join the group, and commits
        the group where it is (:meth:`_write_quickly`). The leaders in between commit their
        own rows at once in :meth:`enqueue`, before buffering them (a sync request's path),
        sparing a lone client a turn of the loop (an epoll call and a pass over the ready
        queue) and the buffer, waiter and future of a group. A group that cannot be written
        that way, or a shutdown, goes to the writer task. A group of more than one request
        hands the next groups back to the writer task's adaptive wait (:meth:`_batch_full`),
        which gathers concurrent requests into larger ones: concurrent clients find it within
        :data:`LEAD_PROBE_EVERY` requests.
        """
        self._leading = True
        try:
            await asyncio.sleep(0)
        finally:  # even if the request was cancelled: its rows are in the buffer
            self._leading = False
            self._commit_as_leader()

    def _commit_as_leader(self) -> None:
        if self._buffer and not self._in_flight and not self._closing:
            batch = PredictionBatch.join(self._buffer)
            if self._write_quickly(batch):  # nothing was awaited since the join
                self._clear_buffer()
                self._settle(len(batch), _Outcome())
        if self._buffer:
            self._data.set()
            self._batch_ready.set()

    def _write_quickly(self, records: Sequence[PredictionRecord]) -> bool:
        """Write a small batch here on the event loop if the store can do it without waiting
        (:meth:`Store.try_write_predictions`: an embedded database's commit that only
        appends to its log), and say whether it did.

        Handing a batch to the writer thread and back costs two thread wake-ups, several
        times a small commit, and while that thread converts records it holds the GIL the
        loop needs to answer the next request (up to a whole switch interval). Whatever
        goes wrong here (the store says no, a record it refuses) leaves the batch to the
        usual path, which retries, splits it and keeps refused records as dead letters.
        """
        if len(records) > QUICK_ROWS or self._failing:
            return False
        try:
            written = self.store.try_write_predictions(records)
        except Exception as exc:
            log.debug("prediction log: a quick write failed, leaving it to the writer: %s", exc)
            return False
        if written is None:
            return False
        self.written += len(records)
        self.batches += 1
        return True

    async def write_now(self, records: Sequence[PredictionRecord]) -> None:
        """Write records before returning (``logging: sync``). A transient failure raises
        :class:`LoggingUnavailable` and nothing of the batch is stored; records the store
        refuses are dead-lettered, the rest written, and :class:`RecordsRefused` raised."""
        if not records:
            return
        self.queued += len(records)
        if self._write_quickly(records):
            return
        outcome = await self._write(records, retry=False)
        if outcome.failed:
            raise LoggingUnavailable(
                "the prediction could not be logged: the store is unavailable", 1.0
            )
        if outcome.refused:
            raise RecordsRefused(outcome.refused, kept=outcome.kept)

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every record accepted so far is written (:class:`LoggingUnavailable`
        after ``timeout``, default ``enqueue_timeout``)."""
        if self.mode == "sync" or self._done_seq >= self._accepted_seq:
            return
        target = self._accepted_seq
        self._batch_ready.set()
        try:
            await self._wait_until(
                lambda: self._done_seq >= target, timeout or self.enqueue_timeout
            )
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
            if not self._closing and not self._batch_full():
                delay = self._first_at + self.flush_interval - time.monotonic()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._batch_ready.wait()
            batch = PredictionBatch.join(self._buffer)
            self._clear_buffer()
            self._in_flight = len(batch)
            if self._write_quickly(batch):
                outcome = _Outcome()
            else:
                outcome = await self._write(batch, retry=True)
            self._settle(len(batch), outcome)

    def _clear_buffer(self) -> None:
        """The buffer was taken as one batch: empty it, and remember how many requests it
        held (the next durable group's size, :meth:`_batch_full`)."""
        # cleared as the batch is taken, not before waiting: a flush() asked for while the
        # writer was not yet waiting must not be lost
        self._batch_ready.clear()
        self._last_group = self._buffer_requests
        self._buffer, self._buffer_rows, self._buffer_requests = [], 0, 0

    def _settle(self, rows: int, outcome: _Outcome) -> None:
        """A batch of ``rows`` is done: answer its requests and whoever waits for progress."""
        self._in_flight = 0
        self._done_seq += rows
        self._resolve_waiters(outcome)
        progress, self._progress = self._progress, []
        for future in progress:
            if not future.done():
                future.set_result(None)

    async def _wait_until(self, condition: Callable[[], bool], timeout: float) -> None:
        """Return once ``condition()`` holds, checked again each time a batch is done;
        :class:`TimeoutError` after ``timeout`` seconds."""
        assert self._loop is not None
        async with asyncio.timeout(timeout):
            while not condition():
                future: asyncio.Future[None] = self._loop.create_future()
                self._progress.append(future)
                await future

    def _batch_full(self) -> bool:
        """Whether to write the buffer now rather than wait for more rows.

        ``async``: at ``flush_rows``. ``durable`` (requests are waiting for this commit):
        adaptive group commit, after PostgreSQL's ``commit_delay``/``commit_siblings``: once
        as many requests are buffered as the previous batch held, so a single client never
        waits, and concurrent clients, which come back together, share one transaction;
        the flush interval bounds the wait when fewer come back. A group of
        :data:`GROUP_ROWS` rows is written at once, however many requests it holds.
        """
        if self._buffer_rows >= self.flush_rows:
            return True
        return self.mode == "durable" and (
            self._buffer_requests >= self._last_group or self._buffer_rows >= GROUP_ROWS
        )

    def _resolve_waiters(self, outcome: _Outcome) -> None:
        while self._waiters and self._waiters[0].end <= self._done_seq:
            waiter = self._waiters.popleft()
            if waiter.future.done():
                continue
            refused = {i: outcome.refused[i] for i in waiter.ids if i in outcome.refused}
            if outcome.failed:
                waiter.future.set_exception(
                    LoggingUnavailable(
                        "the prediction could not be logged before shutdown: the store is "
                        "unavailable",
                        1.0,
                    )
                )
            elif refused:
                waiter.future.set_exception(RecordsRefused(refused, kept=outcome.kept))
            else:
                waiter.future.set_result(None)
            # nobody may be awaiting a future whose request was cancelled: mark it seen
            if waiter.future.done() and not waiter.future.cancelled():
                waiter.future.exception()

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        # sync requests write in parallel, each on its own thread; the queue has one writer
        if self.mode != "sync" and self._loop is not None and self._executor is not None:
            return await self._loop.run_in_executor(self._executor, fn, *args)
        return await asyncio.to_thread(fn, *args)

    async def _write(self, batch: Sequence[PredictionRecord], *, retry: bool) -> _Outcome:
        """Write a batch; split it around records the store refuses (see the module
        docstring). With ``retry``, transient failures are retried with backoff until they
        pass (or the close deadline); without it the first one fails the whole batch."""
        outcome = _Outcome()
        loop = asyncio.get_running_loop()
        attempt = 0
        refused: list[DeadLetter] = []
        parts = [batch]  # a stack, so the parts are written in their original order
        while parts:
            part = parts.pop()
            try:
                await self._call(self.store.write_predictions, part)
            except Exception as exc:
                if is_transient(exc):
                    self._record_failure(exc)
                    if not retry:
                        outcome.failed = True
                        return outcome
                    if self._closing and loop.time() >= self._close_deadline:
                        lost = len(part) + sum(len(p) for p in parts)
                        self.dropped += lost
                        log.error(
                            "prediction log: gave up on %d rows at shutdown, the store is "
                            "still failing: %s",
                            lost,
                            self.last_error,
                        )
                        outcome.failed = True
                        return outcome
                    delay = min(self.backoff_initial * 2**attempt, self.backoff_max)
                    if self._closing:
                        delay = min(delay, max(self._close_deadline - loop.time(), 0.0))
                    attempt += 1
                    parts.append(part)
                    await asyncio.sleep(delay)
                    continue
                if len(part) > 1:
                    middle = len(part) // 2
                    parts.append(part[middle:])
                    parts.append(part[:middle])
                    continue
                refused.append(DeadLetter.of(part[0], f"{type(exc).__name__}: {exc}", now()))
                outcome.refused[part[0].id] = refused[-1].reason
                continue
            attempt = 0
            if self._failing:
                log.info("prediction log: the store accepts writes again")
            self._failing = False
            self.written += len(part)
        if refused:
            await self._keep(refused, outcome, retry=retry)
        self.batches += 1
        return outcome

    async def _keep(self, letters: list[DeadLetter], outcome: _Outcome, *, retry: bool) -> None:
        """Keep the refused records of a batch as dead letters, in one transaction; retry a
        transient failure like a write (until the close deadline)."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                await self._call(self.store.add_dead_letters, letters)
                break
            except Exception as exc:
                transient = is_transient(exc)
                if transient:
                    self._record_failure(exc)
                past_deadline = self._closing and loop.time() >= self._close_deadline
                if transient and retry and not past_deadline:
                    delay = min(self.backoff_initial * 2**attempt, self.backoff_max)
                    attempt += 1
                    await asyncio.sleep(delay)
                    continue
                self.dropped += len(letters)
                outcome.kept = False
                log.error(
                    "prediction log: the store refused %d record(s) (first: prediction %s of "
                    "model %s, %s) and could not keep them as dead letters (%s); they are "
                    "dropped",
                    len(letters),
                    letters[0].record_id,
                    letters[0].model,
                    letters[0].reason,
                    ascii_text(exc, 500),
                )
                return
        self.dead_lettered += len(letters)
        self.last_dead_letter = letters[-1].reason
        log.warning(
            "prediction log: the store refused %d record(s), kept as dead letters (first: "
            "prediction %s of model %s: %s)",
            len(letters),
            letters[0].record_id,
            letters[0].model,
            letters[0].reason,
        )
        await self._count_dead_letters()

    async def _count_dead_letters(self) -> None:
        try:
            self.dead_letters_stored = await self._call(self.store.count_dead_letters)
        except Exception as exc:  # only a gauge: a failed count must not stop logging
            log.debug("prediction log: could not count dead letters: %s", exc)

    def _record_failure(self, exc: BaseException) -> None:
        self.write_errors += 1
        self._failing = True
        self.last_error = ascii_text(f"{type(exc).__name__}: {exc}", 500)
        self.last_error_at = time.time()
        log.warning("prediction log: writing to the store failed: %s", self.last_error)


@dataclass
class ReplayResult:
    """What ``replay_dead_letters`` did: ids written (and removed), ids refused again (kept,
    with the new reason and one more attempt), and the outage that stopped it, if any."""

    written: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    stopped: str | None = None


def replay_dead_letters(store: Store, letters: Sequence[DeadLetter]) -> ReplayResult:
    """Write dead letters' records again, one at a time; remove each one that is stored.

    A record refused again stays, with the new reason; an outage stops the replay (what was
    replayed so far stays done). Writing and removing are two transactions: a crash between
    them leaves the dead letter, and replaying it again is harmless because the store skips
    a record whose id it already holds.
    """
    result = ReplayResult()
    for letter in letters:
        assert letter.id is not None
        try:
            store.write_predictions([letter.record()])
        except Exception as exc:
            reason = ascii_text(f"{type(exc).__name__}: {exc}", 1000)
            if is_transient(exc):
                result.stopped = reason
                return result
            letter.reason = reason
            letter.attempts += 1
            store.update_dead_letter(letter)
            result.refused[letter.id] = reason
            continue
        store.delete_dead_letters([letter.id])
        result.written.append(letter.id)
    return result
