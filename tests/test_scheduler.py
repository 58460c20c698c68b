"""The scheduler: one run per tick across schedulers sharing a database, no overlap."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

from driftscope.core.config.yaml_file import MonitorConfig
from driftscope.core.contracts.report import Report
from driftscope.core.contracts.store import StoreSettings
from driftscope.core.monitoring.scheduler import MonitorScheduler, lease_ttl
from driftscope.core.plugin_system.manager import create_plugin_manager
from support.reports import report


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


def _store(url: str):
    cls = create_plugin_manager(entry_points=False).get("store", "sql")
    store = cls(StoreSettings(url=url))
    store.open()
    return store


def test_two_schedulers_on_one_database_run_each_tick_once(sqlite_url):
    runs: list[tuple[str, float]] = []
    lock = threading.Lock()

    def runner(owner: str):
        def run(name: str) -> Report:
            with lock:
                runs.append((owner, time.monotonic()))
            now = datetime.now(UTC)
            return report(id="r", monitor=name, model="x", at=now, rows=0)

        return run

    monitor = _monitor(every="1s")
    stores = [_store(sqlite_url), _store(sqlite_url)]
    schedulers = [
        MonitorScheduler([monitor], store, runner(f"p{i}"), owner=f"p{i}")
        for i, store in enumerate(stores)
    ]
    started = time.monotonic()
    for scheduler in schedulers:
        scheduler.start()
    time.sleep(5.5)
    for scheduler in schedulers:
        scheduler.stop()
    elapsed = time.monotonic() - started
    for store in stores:
        store.close()
    assert 3 <= len(runs) <= int(elapsed) + 1, runs
    gaps = [b[1] - a[1] for a, b in itertools.pairwise(runs)]
    assert min(gaps) > 0.5, f"two runs inside one tick: {gaps}"
    assert sum(s.skipped for s in schedulers) >= len(runs) - 2


def test_a_slow_run_never_overlaps_itself(sqlite_url):
    active = 0
    overlaps = 0
    done = 0
    lock = threading.Lock()

    def slow(name: str) -> Report:
        nonlocal active, overlaps, done
        with lock:
            active += 1
            overlaps += active > 1
        time.sleep(1.3)
        with lock:
            active -= 1
            done += 1
        now = datetime.now(UTC)
        return report(id="r", monitor=name, model="x", at=now, rows=0)

    store = _store(sqlite_url)
    scheduler = MonitorScheduler([_monitor(every="0.5s")], store, slow)
    scheduler.start()
    time.sleep(4)
    scheduler.stop()
    store.close()
    assert overlaps == 0 and done >= 2


def test_lease_ttl_covers_most_of_the_interval():
    assert lease_ttl(_monitor(every="10s")) == 9.0
    assert abs(lease_ttl(_monitor(every=None, cron="*/5 * * * *")) - 270) < 1e-6
    assert timedelta(seconds=lease_ttl(_monitor(every="1h"))) < timedelta(hours=1)
