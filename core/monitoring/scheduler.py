"""The monitor scheduler: APScheduler 3 runs each monitor on its interval or cron.

Runs of one monitor never overlap (``max_instances=1``) and missed runs coalesce into one.
Processes that share a database each run the scheduler; a lease taken in the store makes a
monitor run once per tick across all of them: the first process to reach a tick takes the
lease for most of the interval, and the others find it held and skip that tick.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from driftscope.core.config.yaml_file import MonitorConfig, RetentionConfig
from driftscope.core.contracts.report import Report
from driftscope.core.contracts.store import Store
from driftscope.core.monitoring.retention import RETENTION_LEASE, PrunePass, prune_older_than

log = logging.getLogger(__name__)

# the share of an interval a lease lasts: long enough to cover every process's tick in the
# same interval, short enough to expire before the next one
LEASE_SHARE = 0.9


def lease_ttl(monitor: MonitorConfig) -> float:
    """How long a run's lease lasts, in seconds."""
    if monitor.every is not None:
        return max(monitor.every.total_seconds() * LEASE_SHARE, 0.5)
    trigger = CronTrigger.from_crontab(monitor.cron, timezone=UTC)
    # a crontab trigger has no end date, so it always fires again (apscheduler is untyped)
    first: datetime = trigger.get_next_fire_time(None, datetime.now(UTC))
    second: datetime = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    return max((second - first).total_seconds() * LEASE_SHARE, 0.5)


class MonitorScheduler:
    """Runs every configured monitor on its schedule, once per tick across processes."""

    def __init__(
        self,
        monitors: list[MonitorConfig],
        store: Store,
        run: Callable[[str], Report],
        *,
        max_workers: int = 4,
        owner: str | None = None,
        retention: RetentionConfig | None = None,
    ) -> None:
        self.monitors = monitors
        self.store = store
        self.run = run
        self.retention = retention
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.runs = 0
        self.skipped = 0
        self.failures = 0
        self.prunes = 0
        self.pruned_rows = 0
        self._lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone=UTC,
        )
        self.scheduler.add_listener(self._on_error, EVENT_JOB_ERROR)
        for monitor in monitors:
            trigger = (
                IntervalTrigger(seconds=monitor.every.total_seconds(), timezone=UTC)
                if monitor.every is not None
                else CronTrigger.from_crontab(monitor.cron, timezone=UTC)
            )
            self.scheduler.add_job(
                self.tick, trigger, args=[monitor], id=monitor.name, name=f"monitor {monitor.name}"
            )
        if retention is not None and retention.keep is not None:
            self.scheduler.add_job(
                self.prune_tick,
                IntervalTrigger(seconds=retention.every.total_seconds(), timezone=UTC),
                id="driftscope:retention",
                name="retention",
            )

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self) -> None:
        """Start the background scheduler thread."""
        self.scheduler.start()
        log.info("scheduler %s started with %d monitors", self.owner, len(self.monitors))

    def stop(self, wait: bool = True) -> None:
        """Stop scheduling; with ``wait``, let running monitor runs finish."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def tick(self, monitor: MonitorConfig) -> Report | None:
        """One scheduled tick: run the monitor if this process wins the tick's lease."""
        if not self.store.acquire_lease(f"monitor:{monitor.name}", self.owner, lease_ttl(monitor)):
            with self._lock:
                self.skipped += 1
            log.debug("monitor %s: another process has this tick", monitor.name)
            return None
        report = self.run(monitor.name)
        with self._lock:
            self.runs += 1
        log.info(
            "monitor %s: %s, %d rows, drift %s",
            monitor.name,
            report.status,
            report.window.rows,
            "found" if report.drifted else "none",
        )
        return report

    def prune_tick(self) -> PrunePass | None:
        """One scheduled retention pass, if this process wins the interval's lease."""
        retention = self.retention
        if retention is None or retention.keep is None:
            return None
        ttl = max(retention.every.total_seconds() * LEASE_SHARE, 0.5)
        if not self.store.acquire_lease(RETENTION_LEASE, self.owner, ttl):
            log.debug("retention: another process prunes this interval")
            return None
        done = prune_older_than(self.store, retention.keep, batch_size=retention.batch_size)
        with self._lock:
            self.prunes += 1
            self.pruned_rows += done.total
        return done

    def _on_error(self, event: JobExecutionEvent) -> None:
        with self._lock:
            self.failures += 1
        log.error("monitor %s failed: %s", event.job_id, event.exception, exc_info=event.exception)
