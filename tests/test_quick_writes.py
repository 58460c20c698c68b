"""Committing small batches on the event loop: ``Store.try_write_predictions`` and the log
writer's use of it.

The SQL store commits at once only on a SQLite file whose write lock is free; what it stores
is read back with plain ``sqlite3`` and compared with the records, never with the store's own
reads. The log writer is watched through a store that records which thread each write ran
on: the event loop's for a lone ``durable`` request and for small queued batches, the
writer thread otherwise, and the usual path (split, dead letters) whenever the quick one
says no or fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from driftscope import (
    FeatureRow,
    FeatureSpec,
    ModelSchema,
    PredictionRecord,
    StoreError,
    StoreSettings,
)
from driftscope.core.serving.log_writer import (
    LEAD_PROBE_EVERY,
    QUICK_ROWS,
    LoggingMode,
    PredictionLogWriter,
    RecordsRefused,
)
from driftscope.plugins.stores.sql import SQLStore, quick_writes
from support.waiting import wait_until

SCHEMA = ModelSchema(
    name="m",
    features=(FeatureSpec("x"), FeatureSpec("y"), FeatureSpec("colour", "categorical")),
    classes=("no", "yes"),
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(i: int, **changes: Any) -> PredictionRecord:
    values: dict[str, Any] = {
        "id": f"r{i:05d}",
        "model": "m",
        "timestamp": T0 + timedelta(seconds=i),
        "features": {"x": i * 0.5, "y": -1.0 / (i + 1), "colour": "rød" if i % 2 else None},
        "prediction": "yes" if i % 3 else "no",
        "probabilities": {"no": 0.25, "yes": 0.75},
        "latency_ms": 1.5 if i % 2 else None,
    }
    values.update(changes)
    return PredictionRecord(**values)


def stored(path: Path) -> list[tuple[Any, ...]]:
    """The model's rows read with plain sqlite3, in id order."""
    with sqlite3.connect(path) as conn:
        (table,) = conn.execute("SELECT table_name FROM models WHERE name = 'm'").fetchone()
        columns = {
            name: column
            for name, column in conn.execute(
                "SELECT c.name, c.column_name FROM model_columns c JOIN models m "
                "ON m.id = c.model_id WHERE m.name = 'm' ORDER BY c.role, c.position"
            )
        }
        wanted = ", ".join(
            ["id", "ts", "prediction", "latency_ms"]
            + [columns[n] for n in ("no", "yes", "x", "y", "colour")]
        )
        return conn.execute(f"SELECT {wanted} FROM {table} ORDER BY id").fetchall()


def expected(records: Sequence[PredictionRecord]) -> list[tuple[Any, ...]]:
    """What those rows must hold, computed from the records by hand."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    out = []
    for r in sorted(records, key=lambda r: r.id):
        assert r.probabilities is not None
        f = r.features
        micros = (r.timestamp - epoch) // timedelta(microseconds=1)
        probabilities = (r.probabilities["no"], r.probabilities["yes"])
        out.append(
            (r.id, micros, r.prediction, r.latency_ms, *probabilities, f["x"], f["y"], f["colour"])
        )
    return out


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[SQLStore, Path]]:
    path = tmp_path / "quick.db"
    store = SQLStore(StoreSettings(url=SecretStr(f"sqlite:///{path}")))
    store.open()
    store.register_model(SCHEMA)
    store.write_predictions([record(0)])  # loads and caches the model's layout
    try:
        yield store, path
    finally:
        store.close()


def test_quick_writes_store_what_write_predictions_stores(db: tuple[SQLStore, Path]) -> None:
    store, path = db
    batch = [record(i) for i in range(1, 40)]
    batch[3] = record(4, features=FeatureRow(("x", "y", "colour"), [2.0, math.inf, "blå"]))
    assert store.try_write_predictions(batch) == 39
    # a known id, and an id twice in one batch, are skipped as write_predictions skips them
    assert store.try_write_predictions([record(5), record(40), record(40)]) == 1
    assert stored(path) == expected([record(0), *batch, record(40)])


def test_a_value_that_does_not_fit_is_refused_and_nothing_of_the_batch_is_written(
    db: tuple[SQLStore, Path],
) -> None:
    store, path = db
    bad = record(2, features={"x": "not a number", "y": 1.0, "colour": "red"})
    with pytest.raises(StoreError, match="r00002") as refused:
        store.try_write_predictions([record(1), bad, record(3)])
    assert refused.value.transient is False
    surrogate = record(4, features={"x": 1.0, "y": 1.0, "colour": "\ud800"})
    with pytest.raises(StoreError) as unencodable:
        store.try_write_predictions([record(5), surrogate])
    assert unencodable.value.transient is False
    assert stored(path) == expected([record(0)])
    assert store.try_write_predictions([record(1)]) == 1  # the connection is usable again


def test_a_held_write_lock_turns_the_quick_write_away_without_waiting(
    db: tuple[SQLStore, Path],
) -> None:
    store, path = db
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert store.try_write_predictions([record(1)]) is None
        # it asked once: its connection waits for no lock, and never checkpoints
        assert store._quick is not None
        assert store._quick.execute("PRAGMA busy_timeout").fetchone() == (0,)
        assert store._quick.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert stored(path) == expected([record(0)])
    assert store.try_write_predictions([record(1)]) == 1


def test_only_a_sqlite_file_with_a_known_layout_writes_at_once(
    db: tuple[SQLStore, Path], postgres_url: str
) -> None:
    store, _path = db
    unknown = record(1, model="not registered")
    assert store.try_write_predictions([unknown]) is None
    # a feature the cached layout lacks: the writer thread reloads the layout (and refuses)
    widened = record(2, features={"x": 1.0, "y": 2.0, "colour": "red", "new": 3.0})
    assert store.try_write_predictions([widened]) is None
    for url in ("sqlite://", postgres_url):
        other = SQLStore(StoreSettings(url=SecretStr(url)))
        other.open()
        try:
            other.register_model(SCHEMA)
            other.write_predictions([record(0)])
            assert other.try_write_predictions([record(1)]) is None
        finally:
            other.close()


def test_quick_commits_never_checkpoint_and_a_background_checkpoint_follows(
    db: tuple[SQLStore, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, path = db
    monkeypatch.setattr(quick_writes, "CHECKPOINT_EVERY", 5)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def rows_in_the_database_file() -> int:
        # the main file alone, without its log: what checkpoints have copied into it
        copy = tmp_path / f"copy-{threading.get_ident()}.db"
        shutil.copyfile(path, copy)
        with sqlite3.connect(copy) as conn:
            (table,) = conn.execute("SELECT table_name FROM models").fetchone()
            (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        copy.unlink()
        return int(count)

    for i in range(1, 5):
        assert store.try_write_predictions([record(i)]) == 1
    assert rows_in_the_database_file() == 1
    assert store.try_write_predictions([record(5)]) == 1  # the fifth asks for a checkpoint
    wait_until(lambda: rows_in_the_database_file() == 6, what="the background checkpoint")


# -- the log writer --------------------------------------------------------------------------
class WatchedStore(SQLStore):
    """The SQL store, noting where each write ran and how many rows it was given: on a
    thread (``"thread"``), or on the event loop in the writer's task (``"writer"``) or in
    the request's own (``"request"``)."""

    def __init__(self, url: str) -> None:
        super().__init__(StoreSettings(url=SecretStr(url)))
        self.calls: list[tuple[str, int, str]] = []

    @staticmethod
    def _where() -> str:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no event loop in this thread
            return "thread"
        assert task is not None
        return "writer" if task.get_name() == "driftscope-log-writer" else "request"

    def write_predictions(self, records: Sequence[PredictionRecord]) -> int:
        self.calls.append(("write", len(records), self._where()))
        return super().write_predictions(records)

    def try_write_predictions(self, records: Sequence[PredictionRecord]) -> int | None:
        written = super().try_write_predictions(records)
        done = "quick" if written is not None else "declined"
        self.calls.append((done, len(records), self._where()))
        return written


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[WatchedStore, Path]]:
    path = tmp_path / "watched.db"
    store = WatchedStore(f"sqlite:///{path}")
    store.open()
    store.register_model(SCHEMA)
    store.write_predictions([record(0)])
    store.calls.clear()
    try:
        yield store, path
    finally:
        store.close()


@contextlib.asynccontextmanager
async def running(writer: PredictionLogWriter) -> AsyncIterator[PredictionLogWriter]:
    """``writer`` started, and closed on the way out (everything queued is written)."""
    await writer.start()
    try:
        yield writer
    finally:
        await writer.close()


@pytest.mark.anyio
@pytest.mark.parametrize(("mode", "where"), [("durable", "request"), ("sync", "request")])
async def test_one_request_at_a_time_commits_on_the_loop(
    watched: tuple[WatchedStore, Path], mode: LoggingMode, where: str
) -> None:
    store, path = watched
    async with running(PredictionLogWriter(store, mode=mode)) as writer:
        for i in range(1, 4):
            await writer.submit([record(i)])
            # answered: committed, as a reader on another connection sees
            assert [row[0] for row in stored(path)][-1] == f"r{i:05d}"
            # and counted as written: nothing is left for a flush to wait for
            await writer.flush(timeout=5)
    # durable: each lone request leads its group of one and commits it in its own task
    assert store.calls == [("quick", 1, where)] * 3
    assert (writer.queued, writer.written, writer.depth) == (3, 3, 0)


@pytest.mark.anyio
async def test_durable_requests_ready_together_share_their_leaders_commit(
    watched: tuple[WatchedStore, Path],
) -> None:
    store, path = watched
    async with running(PredictionLogWriter(store, mode="durable")) as writer:
        # gather() starts the four requests in one turn of the loop: the first leads, yields
        # once, and commits the three that joined it with its own rows
        await asyncio.gather(*(writer.submit([record(i)]) for i in range(1, 5)))
        assert store.calls == [("quick", 4, "request")]
        assert len(stored(path)) == 5
        # a group of four: the next groups are gathered by the writer task's adaptive wait
        await asyncio.gather(*(writer.submit([record(i)]) for i in range(5, 9)))
        assert store.calls[1:] == [("quick", 4, "writer")]
    assert (writer.queued, writer.written, writer.depth) == (8, 8, 0)


@pytest.mark.anyio
async def test_a_lone_leader_waits_for_others_to_join_only_at_its_probes(
    watched: tuple[WatchedStore, Path],
) -> None:
    store, path = watched
    n = LEAD_PROBE_EVERY + 1
    async with running(PredictionLogWriter(store, mode="durable")) as writer:
        await writer.submit([record(1)])  # the first leader probes: nobody else is there
        # between probes a leader commits at once: two requests ready together commit alone
        await asyncio.gather(writer.submit([record(2)]), writer.submit([record(3)]))
        for i in range(4, LEAD_PROBE_EVERY + 1):
            await writer.submit([record(i)])
        assert store.calls == [("quick", 1, "request")] * LEAD_PROBE_EVERY
        # the next leader probes, and the request ready with it joins its group
        await asyncio.gather(writer.submit([record(n)]), writer.submit([record(n + 1)]))
        assert store.calls[LEAD_PROBE_EVERY:] == [("quick", 2, "request")]
        # a group of two: the next groups are gathered by the writer task's adaptive wait
        await asyncio.gather(writer.submit([record(n + 2)]), writer.submit([record(n + 3)]))
        assert store.calls[LEAD_PROBE_EVERY + 1 :] == [("quick", 2, "writer")]
    assert len(stored(path)) == n + 4
    assert (writer.queued, writer.written, writer.depth) == (n + 3, n + 3, 0)


@pytest.mark.anyio
async def test_small_queued_batches_are_written_on_the_loop_large_ones_on_the_thread(
    watched: tuple[WatchedStore, Path],
) -> None:
    store, path = watched
    writer = PredictionLogWriter(store, mode="async", flush_interval=30.0, flush_rows=10_000)
    async with running(writer):
        await writer.submit([record(i) for i in range(1, 11)])
        await writer.flush()
        big = [record(i) for i in range(11, 12 + QUICK_ROWS)]
        await writer.submit(big)
        await writer.flush()
    assert store.calls == [("quick", 10, "writer"), ("write", QUICK_ROWS + 1, "thread")]
    assert len(stored(path)) == 12 + QUICK_ROWS


@pytest.mark.anyio
async def test_a_lock_held_elsewhere_sends_the_durable_request_to_the_writer_thread(
    watched: tuple[WatchedStore, Path],
) -> None:
    store, path = watched
    async with running(PredictionLogWriter(store, mode="durable")) as writer:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        try:
            request = asyncio.create_task(writer.submit([record(1)]))
            await asyncio.to_thread(
                wait_until, lambda: ("write", 1, "thread") in store.calls, what="the threaded write"
            )
            assert not request.done()  # the writer thread waits for the lock; the loop does not
            other.execute("ROLLBACK")
            await asyncio.wait_for(request, 30)
        finally:
            other.close()
    # the request, leading its group of one, tried first and handed the group over
    assert store.calls[0] == ("declined", 1, "request")
    assert store.calls[-1] == ("write", 1, "thread")
    assert [row[0] for row in stored(path)] == ["r00000", "r00001"]


@pytest.mark.anyio
async def test_a_refused_record_on_the_quick_path_goes_the_usual_way_to_a_dead_letter(
    watched: tuple[WatchedStore, Path],
) -> None:
    store, path = watched
    bad = record(2, features={"x": "not a number", "y": 1.0, "colour": "red"})
    async with running(PredictionLogWriter(store, mode="durable")) as writer:
        with pytest.raises(RecordsRefused) as refused:
            await writer.submit([record(1), bad])
        assert list(refused.value.refused) == ["r00002"]
    assert [row[0] for row in stored(path)] == ["r00000", "r00001"]
    letters = store.list_dead_letters()
    assert [letter.record_id for letter in letters] == ["r00002"]
    assert letters[0].record().features == bad.features
    assert writer.dead_lettered == 1
