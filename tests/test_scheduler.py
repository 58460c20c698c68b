"""The scheduler: one run per tick across schedulers sharing a database, no overlap."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobExecutionEvent

from driftscope.core.config.yaml_file import MonitorConfig
from driftscope.core.contracts.report import Report
from driftscope.core.contracts.store import StoreSettings
from driftscope.core.monitoring.scheduler import MonitorScheduler, lease_ttl
from driftscope.core.plugin_system.manager import create_plugin_manager
from support.reports import T0, report
from support.waiting import ManualClock, wait_until

EVERY = timedelta(seconds=10)


def _monitor(**values) -> MonitorConfig:
    return MonitorConfig.model_validate(
        {
            "name": "m",
            "model": "x",
            "window": {"last": "1h"},
            "detectors": [{"type": "ks"}],
            **values,
        }
    )


def _store(url: str, clock: ManualClock | None = None):
    cls = create_plugin_manager(entry_points=False).get("store", "sql")
    store = cls(StoreSettings(url=url), **({"clock": clock} if clock else {}))
    store.open()
    return store


def _recorder(runs: list[tuple[str, datetime]], clock: ManualClock, lock: threading.Lock):
    def runner(owner: str):
        def run(name: str) -> Report:
            with lock:
                runs.append((owner, clock()))
            return report(id=uuid.uuid4().hex, monitor=name, model="x", at=clock(), rows=0)

        return run

    return runner


def test_two_schedulers_on_one_database_run_each_tick_once(sqlite_url):
    # two processes reach every tick together; the store's clock is the test's, so which
    # lease is still held is decided by the time the test sets, not by how busy the runner is
    clock = ManualClock(T0)
    runs: list[tuple[str, datetime]] = []
    runner = _recorder(runs, clock, threading.Lock())
    monitor = _monitor(every="10s")
    stores = [_store(sqlite_url, clock), _store(sqlite_url, clock)]
    schedulers = [
        MonitorScheduler([monitor], store, runner(f"p{i}"), owner=f"p{i}")
        for i, store in enumerate(stores)
    ]
    try:
        for tick in range(6):
            at = T0 + tick * EVERY
            clock.set(at)
            if tick % 2 == 0:  # both at the same instant, racing for the lease
                together = threading.Barrier(len(schedulers))

                def reach(scheduler: MonitorScheduler, barrier: threading.Barrier) -> None:
                    barrier.wait()
                    scheduler.tick(monitor)

                threads = [threading.Thread(target=reach, args=(s, together)) for s in schedulers]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            else:  # one process late, but within the lease: it skips the tick
                first, late = schedulers if tick % 4 == 1 else schedulers[::-1]
                first.tick(monitor)
                clock.set(at + 0.8 * EVERY)
                late.tick(monitor)
    finally:
        for store in stores:
            store.close()
    assert [at for _, at in runs] == [T0 + k * EVERY for k in range(6)], runs
    assert [owner for owner, _ in runs[1::2]] == ["p0", "p1", "p0"]  # the first to arrive runs
    assert sum(s.runs for s in schedulers) == 6 and sum(s.skipped for s in schedulers) == 6


def test_when_the_process_that_ran_a_tick_is_gone_another_runs_the_next(sqlite_url):
    clock = ManualClock(T0)
    runs: list[tuple[str, datetime]] = []
    runner = _recorder(runs, clock, threading.Lock())
    monitor = _monitor(every="10s")
    stores = [_store(sqlite_url, clock), _store(sqlite_url, clock)]
    first, second = (
        MonitorScheduler([monitor], store, runner(f"p{i}"), owner=f"p{i}")
        for i, store in enumerate(stores)
    )
    try:
        assert first.tick(monitor) is not None
        # the first process dies without releasing its lease; the survivor's next tick is
        # one interval later, and the lease (90% of the interval) is over by then
        clock.advance(EVERY)
        assert second.tick(monitor) is not None
        clock.advance(EVERY)
        assert second.tick(monitor) is not None  # it renews its own lease every tick
    finally:
        for store in stores:
            store.close()
    assert runs == [("p0", T0), ("p1", T0 + EVERY), ("p1", T0 + 2 * EVERY)]


def test_started_schedulers_run_a_monitor_only_where_the_lease_is_held(sqlite_url):
    # the real background schedulers on one database; the store's clock stands still, so
    # the first process to tick holds the lease for good and the other skips every tick
    clock = ManualClock(T0)
    runs: list[tuple[str, datetime]] = []
    runner = _recorder(runs, clock, threading.Lock())
    monitor = _monitor(every="0.5s")
    stores = [_store(sqlite_url, clock), _store(sqlite_url, clock)]
    schedulers = [
        MonitorScheduler([monitor], store, runner(f"p{i}"), owner=f"p{i}")
        for i, store in enumerate(stores)
    ]
    for scheduler in schedulers:
        scheduler.start()
    try:

        def three_of_each() -> bool:
            return sum(s.runs for s in schedulers) >= 3 and sum(s.skipped for s in schedulers) >= 3

        wait_until(three_of_each, what="three runs and three skipped ticks")
    finally:
        for scheduler in schedulers:
            scheduler.stop()
        for store in stores:
            store.close()
    owners = {owner for owner, _ in runs}
    assert len(owners) == 1, runs
    (winner,) = owners
    assert [s.skipped for s in schedulers if s.owner == winner] == [0]
    assert [s.runs for s in schedulers if s.owner != winner] == [0]
    assert all(s.failures == 0 for s in schedulers)


def test_a_slow_run_never_overlaps_itself(sqlite_url):
    lock = threading.Lock()
    active = overlaps = done = 0
    running = threading.Event()
    finish = threading.Event()

    def slow(name: str) -> Report:
        nonlocal active, overlaps, done
        with lock:
            active += 1
            overlaps += active > 1
        running.set()
        assert finish.wait(60), "the test never let the run finish"
        with lock:
            active -= 1
            done += 1
        return report(id=uuid.uuid4().hex, monitor=name, model="x", at=datetime.now(UTC), rows=0)

    store = _store(sqlite_url)
    scheduler = MonitorScheduler([_monitor(every="0.5s")], store, slow)
    # the ticks the scheduler did not start because the monitor's run was still going
    refused: list[JobExecutionEvent] = []
    scheduler.scheduler.add_listener(refused.append, EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    try:
        assert running.wait(30), "the monitor never ran"
        wait_until(lambda: len(refused) >= 2 or overlaps > 0, what="two ticks during the run")
        assert overlaps == 0 and done == 0
        finish.set()
        wait_until(lambda: done >= 2, what="a second run after the slow one")
    finally:
        finish.set()
        scheduler.stop()
        store.close()
    assert overlaps == 0 and scheduler.failures == 0


def test_lease_ttl_covers_most_of_the_interval():
    assert lease_ttl(_monitor(every="10s")) == 9.0
    assert abs(lease_ttl(_monitor(every=None, cron="*/5 * * * *")) - 270) < 1e-6
    assert timedelta(seconds=lease_ttl(_monitor(every="1h"))) < timedelta(hours=1)
